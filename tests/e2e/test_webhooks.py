"""Webhooks with real `pagemill worker` processes: a retry planned before every worker was
SIGKILLed is still delivered, with the same id, by the workers started afterwards."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.conftest import WEBHOOK_TEST_ENV
from tests.e2e.harness import Cluster, kill_worker
from tests.gql.support import create_with_hook, png, wait_for
from tests.webhook_receiver import receiver

LOG = """query($id: ID!) { upload(id: $id) { status
  webhookDeliveries { attempt status httpStatus nextAttemptAt } } }"""


async def delivery_log(client: httpx.AsyncClient, upload_id: str) -> list[dict[str, Any]]:
    response = await client.post("/graphql", json={"query": LOG, "variables": {"id": upload_id}})
    return list(response.json()["data"]["upload"]["webhookDeliveries"])


async def test_a_worker_killed_between_attempts_still_delivers(distributed: Cluster) -> None:
    secret = WEBHOOK_TEST_ENV["PAGEMILL_WEBHOOK_SECRET"]
    async with httpx.AsyncClient(base_url=distributed.url, timeout=60) as client:
        with receiver(500) as hook:
            body = await create_with_hook(client, [("a.png", png())], hook.url)
            upload_id = body["data"]["createUpload"]["id"]

            async def first_failed() -> list[dict[str, Any]] | None:
                log = await delivery_log(client, upload_id)
                return log if log and log[0]["status"] == "FAILED" else None

            retry = (await wait_for(first_failed, "the first attempt to fail", 120))[1]
            for worker in list(distributed.workers):
                kill_worker(worker)
                distributed.workers.remove(worker)
            # The retry falls due while no worker is alive: nobody sends it.
            due = datetime.fromisoformat(retry["nextAttemptAt"]).timestamp()
            await asyncio.sleep(max(0.0, due - hook.received[0].at) + 1.0)
            assert len(hook.received) == 1
            distributed.start_worker()  # back to two workers for the tests that follow
            distributed.start_worker()

            first, second = await hook.wait_for(2, timeout=120)

        log = await delivery_log(client, upload_id)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert Webhook(secret).verify(second.body, second.headers)["type"] == "upload.completed"
    assert [(e["attempt"], e["status"]) for e in log] == [(1, "FAILED"), (2, "DELIVERED")]


async def test_the_embedded_server_delivers_too(embedded: Cluster) -> None:
    secret = WEBHOOK_TEST_ENV["PAGEMILL_WEBHOOK_SECRET"]
    async with httpx.AsyncClient(base_url=embedded.url, timeout=60) as client:
        with receiver() as hook:
            body = await create_with_hook(client, [("a.png", png())], hook.url)
            request = (await hook.wait_for(1, timeout=120))[0]
    event = Webhook(secret).verify(request.body, request.headers)
    assert event["data"]["uploadId"] == body["data"]["createUpload"]["id"]
    assert event["type"] == "upload.completed"
