"""Subscriptions over plain HTTP: Apollo Client's HttpLink (multipart) and curl (multipart, SSE)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.clients.node import run_node
from tests.e2e.client import create_upload, execute, subscribe
from tests.e2e.harness import Cluster
from tests.gql.support import wait_for

MULTIPART = 'multipart/mixed;subscriptionSpec="1.0", application/json'
EVENTS = "subscription($id: ID!) { uploadEvents(id: $id) { sequence kind uploadStatus } }"


def events_query(upload_id: str) -> str:
    return json.dumps({"query": EVENTS, "variables": {"id": upload_id}})


async def curl(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-N", "--max-time", "60", *args, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    return stdout.decode()


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    """A 6-page PDF, different on every call so dedupe never finishes it at once."""
    pages = [Image.new("RGB", (300, 400), (40 * i, 90, id(tmp_path) % 255)) for i in range(6)]
    path = tmp_path / "pages.pdf"
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=72.0)
    return path


async def subscriptions_open(url: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{url}/metrics")).text
    line = next(
        line for line in text.splitlines() if line.startswith("pagemill_subscriptions_open")
    )
    return float(line.rsplit(" ", 1)[1])


async def test_apollo_http_link_follows_an_upload_live_to_the_end(
    served: Cluster, pdf: Path
) -> None:
    # Processing waits until the subscription is open, so every event comes live.
    await execute(served.graphql_url, "mutation { pauseProcessing { paused } }")
    try:
        created = await create_upload(served.graphql_url, [pdf])
        follow = asyncio.create_task(
            run_node("apollo_subscribe.mjs", served.graphql_url, created["id"])
        )
        await wait_for(lambda: subscriptions_open(served.url), "the subscription", timeout=60)
    finally:
        await execute(served.graphql_url, "mutation { resumeProcessing { paused } }")
    status, events = await follow

    assert status == 0, events
    assert events[0]["kind"] == "SNAPSHOT" and events[0]["uploadStatus"] == "PENDING"
    sequences = [event["sequence"] for event in events]
    assert sequences == sorted(set(sequences))
    pages = [e["page"]["number"] for e in events if e["kind"] == "PAGE_DONE"]
    assert sorted(pages) == [1, 2, 3, 4, 5, 6]
    assert [e["kind"] for e in events[-2:]] == ["DOCUMENT_DONE", "UPLOAD_DONE"]
    assert events[-1]["uploadStatus"] == "COMPLETED"


async def test_apollo_over_http_and_a_websocket_resume_alike(served: Cluster, pdf: Path) -> None:
    created = await create_upload(served.graphql_url, [pdf])
    await subscribe(served.ws_url, created["id"])  # to the end: every event is recorded

    status, over_http = await run_node(
        "apollo_subscribe.mjs", served.graphql_url, created["id"], "2"
    )
    over_websocket = await subscribe(served.ws_url, created["id"], after=2)

    assert status == 0
    assert over_websocket[0]["sequence"] == 3  # after 2: no SNAPSHOT, the next event
    assert [(e["sequence"], e["kind"]) for e in over_http] == [
        (e["sequence"], e["kind"]) for e in over_websocket
    ]


async def test_curl_streams_a_subscription_as_multipart(
    served: Cluster, finished_upload: dict[str, Any]
) -> None:
    body = await curl(
        served.graphql_url,
        *("-H", f"Accept: {MULTIPART}", "-H", "Content-Type: application/json"),
        *("-d", events_query(finished_upload["id"])),
    )

    parts = [part.split("\r\n\r\n", 1)[-1] for part in body.split("\r\n--graphql")]
    payloads = [json.loads(p)["payload"] for p in parts if p.strip().startswith('{"payload"')]
    assert payloads[0]["data"]["uploadEvents"]["kind"] == "SNAPSHOT"
    assert payloads[-1]["data"]["uploadEvents"]["uploadStatus"] == "COMPLETED"
    assert body.rstrip().endswith("--graphql--")


async def test_curl_streams_a_subscription_as_server_sent_events(
    served: Cluster, finished_upload: dict[str, Any]
) -> None:
    body = await curl(
        served.graphql_url,
        *("-H", "Accept: text/event-stream", "-H", "Content-Type: application/json"),
        *("-d", events_query(finished_upload["id"])),
    )

    events = [block.splitlines() for block in body.replace("\r\n", "\n").split("\n\n") if block]
    assert [lines[0] for lines in events] == ["event: next", "event: complete"]
    snapshot = json.loads(events[0][1].removeprefix("data: "))
    assert snapshot["data"]["uploadEvents"]["kind"] == "SNAPSHOT"


@pytest.mark.parametrize(
    "how",
    [["-X", "POST"], ["-G"], ["-X", "POST", "-H", "Accept: multipart/mixed"]],
    ids=["post", "get", "accept-multipart-without-spec"],
)
async def test_a_subscription_that_cannot_stream_is_refused_with_a_code(
    served: Cluster, finished_upload: dict[str, Any], how: list[str]
) -> None:
    query = json.loads(events_query(finished_upload["id"]))
    if "-G" in how:
        data = ["--data-urlencode", f"query={query['query']}", "--data-urlencode"]
        data.append(f"variables={json.dumps(query['variables'])}")
    else:
        data = ["-H", "Content-Type: application/json", "-d", json.dumps(query)]

    out = await curl(served.graphql_url, *how, *data, "-w", "\n%{http_code}")

    body, status = out.rsplit("\n", 1)
    assert status == "406"
    error = json.loads(body)["errors"][0]
    assert error["extensions"]["code"] == "STREAMING_REQUIRED"
    assert "subscriptionSpec=1.0" in error["message"]
    assert "Traceback" not in (served.logs / "api.log").read_text()


async def test_a_query_sent_as_a_multipart_subscription_gets_its_result(served: Cluster) -> None:
    body = await curl(
        served.graphql_url,
        *("-H", f"Accept: {MULTIPART}", "-H", "Content-Type: application/json"),
        *("-d", json.dumps({"query": "{ ping }"})),
    )

    assert '{"payload":{"data":{"ping":' in body
    assert body.rstrip().endswith("--graphql--")


async def test_an_operation_a_stream_cannot_run_gets_a_typed_error(served: Cluster) -> None:
    mutation = "mutation { pauseProcessing { paused } }"  # never over GET
    body = await curl(
        served.graphql_url,
        "-G",
        "-H",
        "Accept: text/event-stream",
        "--data-urlencode",
        f"query={mutation}",
    )

    data = next(line for line in body.splitlines() if line.startswith("data: "))
    error = json.loads(data.removeprefix("data: "))["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "Traceback" not in (served.logs / "api.log").read_text()
