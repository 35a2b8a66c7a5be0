"""Webhooks through the API with the embedded worker: a real receiver on loopback gets signed
events, retries carry the same id, dead receivers are given up, redelivery sends again."""

from __future__ import annotations

from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from settings import get_settings
from tests.gql.conftest import make_app
from tests.gql.support import PREFLIGHT, create_with_hook, data, graphql, pdf, png, wait_for
from tests.webhook_receiver import Received, dead_url, new_secret, receiver

DELIVERIES = (
    "webhookDeliveries { id messageId event attempt status httpStatus error createdAt"
    " nextAttemptAt }"
)
FINAL = f"""query($id: ID!) {{ upload(id: $id) {{
  id status documentCount pageCount archiveUrl
  documents {{ id filename status pageCount errorCode }}
  {DELIVERIES}
}} }}"""
REDELIVER = "mutation($id: ID!) { redeliverWebhook(uploadId: $id) { id } }"


async def created(client: httpx.AsyncClient, files: list[tuple[str, bytes]], hook: str) -> str:
    body = await create_with_hook(client, files, hook)
    assert not body.get("errors"), body
    return str(body["data"]["createUpload"]["id"])


async def final(client: httpx.AsyncClient, upload_id: str) -> dict[str, Any]:
    return dict((await data(client, FINAL, {"id": upload_id}))["upload"])


async def settled(client: httpx.AsyncClient, upload_id: str, attempts: int) -> dict[str, Any]:
    """The upload once its delivery log has `attempts` entries, none of them still due."""

    async def probe() -> dict[str, Any] | None:
        upload = await final(client, upload_id)
        log = upload["webhookDeliveries"]
        done = len(log) == attempts and all(
            e["status"] in ("DELIVERED", "GAVE_UP", "FAILED") for e in log
        )
        return upload if done else None

    return dict(await wait_for(probe, f"{attempts} webhook attempts", timeout=60))


def verified(request: Received) -> dict[str, Any]:
    body: dict[str, Any] = Webhook(get_settings().webhook_secret).verify(
        request.body, request.headers
    )
    return body


async def test_first_attempt_fails_and_the_retry_carries_the_same_id_and_signature(
    client: httpx.AsyncClient,
) -> None:
    with receiver(500) as hook:
        upload_id = await created(client, [("a.pdf", pdf(2)), ("b.png", png())], hook.url)
        first, second = await hook.wait_for(2, timeout=60)
        upload = await settled(client, upload_id, attempts=2)

    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    event = verified(second)
    assert verified(first) == event
    try:
        Webhook(new_secret()).verify(second.body, second.headers)
        raise AssertionError("a wrong secret verified the delivery")
    except WebhookVerificationError:
        pass
    assert event["type"] == "upload.completed"
    log = upload.pop("webhookDeliveries")
    assert event["data"] == {"uploadId": upload.pop("id"), **upload}
    assert event["data"]["archiveUrl"]
    assert [(e["attempt"], e["status"], e["httpStatus"]) for e in log] == [
        (1, "FAILED", 500),
        (2, "DELIVERED", 200),
    ]
    assert {e["messageId"] for e in log} == {first.headers["webhook-id"]}


async def test_a_dead_receiver_is_given_up_after_the_schedule(client: httpx.AsyncClient) -> None:
    upload_id = await created(client, [("a.png", png())], dead_url())
    attempts = len(get_settings().webhook_retry_schedule) + 1

    log = (await settled(client, upload_id, attempts))["webhookDeliveries"]

    assert [e["status"] for e in log] == ["FAILED"] * (attempts - 1) + ["GAVE_UP"]
    assert all(e["httpStatus"] is None and e["error"] for e in log)
    assert log[-1]["nextAttemptAt"] is None
    assert len({e["messageId"] for e in log}) == 1


async def test_redelivery_sends_the_latest_event_again(client: httpx.AsyncClient) -> None:
    with receiver() as hook:
        upload_id = await created(client, [("a.png", png())], hook.url)
        await hook.wait_for(1, timeout=60)
        await settled(client, upload_id, attempts=1)
        assert not (await graphql(client, REDELIVER, {"id": upload_id})).get("errors")
        first, again = await hook.wait_for(2, timeout=60)
        log = (await settled(client, upload_id, attempts=2))["webhookDeliveries"]

    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert verified(again) == verified(first)
    assert [(e["attempt"], e["status"]) for e in log] == [(1, "DELIVERED"), (2, "DELIVERED")]


async def test_failed_upload_and_its_retry_each_send_their_own_event(
    client: httpx.AsyncClient,
) -> None:
    with receiver() as hook:
        upload_id = await created(client, [("notes.txt", b"plain text")], hook.url)
        first = (await hook.wait_for(1, timeout=60))[0]
        document_id = (await final(client, upload_id))["documents"][0]["id"]
        retry = "mutation($id: ID!) { retryDocument(id: $id) { id } }"
        assert not (await graphql(client, retry, {"id": document_id})).get("errors")
        second = (await hook.wait_for(2, timeout=60))[1]

    assert verified(first)["type"] == verified(second)["type"] == "upload.failed"
    assert verified(first)["data"]["documents"][0]["errorCode"] == "UNSUPPORTED_FORMAT"
    assert first.headers["webhook-id"] != second.headers["webhook-id"]


async def test_rest_callback_url_gets_the_completion_event(client: httpx.AsyncClient) -> None:
    with receiver() as hook:
        response = await client.post(
            "/api/v1/jobs",
            files=[("files", ("a.png", png(), "image/png"))],
            data={"callback_url": hook.url},
            headers=PREFLIGHT,
        )
        assert response.status_code == 202, response.text
        event = verified((await hook.wait_for(1, timeout=60))[0])

    assert event["type"] == "upload.completed"
    assert event["data"]["uploadId"] == response.json()["job_id"]


async def test_private_webhook_urls_are_refused_without_the_setting(db: str) -> None:
    app = make_app(webhook_allow_private=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as strict:
        for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/",
                    "http://169.254.169.254/latest", "ftp://example.com/"):  # fmt: skip
            body = await create_with_hook(strict, [("a.png", png())], url)
            assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (url, body)
            assert body.get("data") is None
        response = await strict.post(
            "/api/v1/jobs",
            files=[("files", ("a.png", png(), "image/png"))],
            data={"callback_url": "http://10.0.0.1/hook"},
            headers=PREFLIGHT,
        )
        assert response.status_code == 400
        assert response.json()["code"] == "BAD_USER_INPUT"


async def test_webhook_urls_are_refused_when_the_server_has_no_secret(db: str) -> None:
    app = make_app(webhook_secret="")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as plain:
        body = await create_with_hook(plain, [("a.png", png())], "https://example.com/hook")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "PAGEMILL_WEBHOOK_SECRET" in body["errors"][0]["message"]


async def test_metrics_count_deliveries_by_outcome(client: httpx.AsyncClient) -> None:
    with receiver() as hook:
        upload_id = await created(client, [("a.png", png())], hook.url)
        await settled(client, upload_id, attempts=1)
    text = (await client.get("/metrics")).text
    delivered = [
        line for line in text.splitlines()
        if line.startswith('pagemill_webhook_deliveries{status="DELIVERED"}')
    ]  # fmt: skip
    assert delivered and float(delivered[0].split()[-1]) >= 1
