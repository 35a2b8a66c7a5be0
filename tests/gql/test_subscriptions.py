"""uploadEvents over a real uvicorn server and the graphql-transport-ws protocol."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from gql.metrics import SUBSCRIPTIONS
from tests.gql.conftest import free_port, make_app, started
from tests.gql.support import PREFLIGHT, jpeg, multipart, pdf, png, wait_for

EVENTS = """subscription($id: ID!, $after: Int) {
  uploadEvents(id: $id, after: $after) {
    sequence kind uploadId uploadStatus documentId documentStatus pagesDone pageCount errorCode
    uploadPagesDone uploadPageCount page { id number width height url }
  }
}"""


async def subscribe(
    host: str,
    upload_id: str,
    after: int | None = None,
    protocol: str = "graphql-transport-ws",
    stop_after: int | None = None,
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every message payload of one subscription until the server completes it (or, with
    `stop_after`, until that many came; then the client leaves), appended to `into` as
    they come when given."""
    messages: list[dict[str, Any]] = [] if into is None else into
    legacy = protocol == "graphql-ws"
    async with (
        asyncio.timeout(120),
        websockets.connect(
            f"ws://{host}/graphql", subprotocols=[websockets.Subprotocol(protocol)]
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": EVENTS, "variables": {"id": upload_id, "after": after}}
        start = "start" if legacy else "subscribe"
        await ws.send(json.dumps({"id": "1", "type": start, "payload": payload}))
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] in ("next", "data"):
                messages.append(message["payload"])
                if len(messages) == stop_after:
                    break
            elif message["type"] == "complete":
                break
            elif message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "error":
                messages.append({"errors": message["payload"]})
                break
    return messages


async def _create(host: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://{host}", timeout=60) as http:
        response = await http.post("/graphql", **multipart(files), headers=PREFLIGHT)
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"]["createUpload"])


def _events(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(not m.get("errors") for m in messages), messages
    return [m["data"]["uploadEvents"] for m in messages]


async def test_live_subscription_starts_with_snapshot_and_ends_with_upload_done(
    server: str,
) -> None:
    created = await _create(server, [("doc.pdf", pdf(3)), ("p.png", png())])
    events = _events(await subscribe(server, created["id"]))
    assert events[0]["kind"] == "SNAPSHOT"
    assert events[-1]["kind"] == "UPLOAD_DONE" or events[0]["uploadStatus"] == "COMPLETED"
    sequences = [e["sequence"] for e in events[1:]]
    assert sequences == sorted(set(sequences))
    assert all(s > events[0]["sequence"] for s in sequences)
    for event in events:
        if event["kind"] == "PAGE_DONE":
            assert event["page"]["url"].startswith(f"http://{server}/files/")


async def test_subscription_with_after_replays_every_later_event_without_snapshot(
    server: str,
) -> None:
    created = await _create(server, [("doc.pdf", pdf(2)), ("j.jpg", jpeg())])
    await subscribe(server, created["id"])  # returns once the upload is done
    [snapshot] = _events(await subscribe(server, created["id"]))
    assert snapshot["uploadStatus"] == "COMPLETED"
    assert snapshot["pagesDone"] == snapshot["pageCount"] == 3
    assert snapshot["uploadPagesDone"] == snapshot["uploadPageCount"] == 3
    replay = _events(await subscribe(server, created["id"], after=0))
    assert [e["sequence"] for e in replay] == list(range(1, snapshot["sequence"] + 1))
    assert replay[-1]["kind"] == "UPLOAD_DONE"
    kinds = [e["kind"] for e in replay]
    assert kinds.count("PAGE_DONE") == 3 and kinds.count("DOCUMENT_DONE") == 2
    middle = replay[len(replay) // 2]["sequence"]
    rest = _events(await subscribe(server, created["id"], after=middle))
    assert rest == [e for e in replay if e["sequence"] > middle]
    assert _events(await subscribe(server, created["id"], after=snapshot["sequence"])) == []


async def test_every_event_counts_the_uploads_pages_at_its_sequence(server: str) -> None:
    created = await _create(server, [("doc.pdf", pdf(3)), ("p.png", png())])
    events = _events(await subscribe(server, created["id"], after=0))
    assert all(e["uploadPagesDone"] is not None for e in events), events
    done = [e["uploadPagesDone"] for e in events if e["kind"] == "PAGE_DONE"]
    assert done == [1, 2, 3, 4]
    assert events[-1]["uploadPagesDone"] == events[-1]["uploadPageCount"] == 4
    # Per event, the counters never go back.
    assert [e["uploadPagesDone"] for e in events] == sorted(e["uploadPagesDone"] for e in events)


async def test_resuming_mid_upload_gets_the_rest_once_and_in_order(
    server: str, client: httpx.AsyncClient
) -> None:
    from settings import get_settings
    from tasks.service.sweeper import sweep
    from tests.gql.support import create, data

    # Processing stays paused until the client is back and has had its replay, so what
    # follows can only reach it live.
    await data(client, "mutation { pauseProcessing { paused } }")
    try:
        created = await create(client, [("long.pdf", pdf(4))])
        upload_id = uuid.UUID(created["id"])
        for _ in range(4):  # the log so far: the client saw two events, then left
            await _append(upload_id)
        first = _events(await subscribe(server, created["id"], after=0, stop_after=2))
        replayed: list[dict[str, Any]] = []
        back = asyncio.create_task(
            subscribe(server, created["id"], after=first[-1]["sequence"], into=replayed)
        )

        async def had_its_replay() -> bool:
            return len(replayed) >= 2

        await wait_for(had_its_replay, "the replay", timeout=30)
    finally:
        await data(client, "mutation { resumeProcessing { paused } }")
    await sweep(get_settings(), pending_after=0)
    resumed = _events(await back)
    kinds = [e["kind"] for e in resumed]
    assert "SNAPSHOT" not in [e["kind"] for e in first] + kinds
    stream = [e["sequence"] for e in first + resumed]
    assert stream == list(range(1, stream[-1] + 1))
    live = kinds[2:]
    assert live[0] == "DOCUMENT_STARTED" and live.count("PAGE_DONE") == 4
    assert live[-2:] == ["DOCUMENT_DONE", "UPLOAD_DONE"]


async def test_snapshots_taken_mid_upload_count_only_announced_pages(server: str) -> None:
    created = await _create(server, [("long.pdf", pdf(10))])
    snapshots: list[dict[str, Any]] = []
    while not snapshots or snapshots[-1]["uploadStatus"] not in ("COMPLETED", "FAILED"):
        snapshots += _events(await subscribe(server, created["id"], stop_after=1))
    log = _events(await subscribe(server, created["id"], after=0))
    for snapshot in snapshots:
        announced = [e for e in log if e["sequence"] <= snapshot["sequence"]]
        pages = sum(e["kind"] == "PAGE_DONE" for e in announced)
        assert snapshot["pagesDone"] == snapshot["uploadPagesDone"] == pages, snapshot


async def test_finished_upload_gives_final_state_and_completes(server: str) -> None:
    created = await _create(server, [("t.txt", b"not a document")])
    events = _events(await subscribe(server, created["id"]))
    assert [e["kind"] for e in events] == ["SNAPSHOT"]
    assert events[0]["uploadStatus"] == "FAILED"


async def test_legacy_graphql_ws_protocol_works(server: str) -> None:
    created = await _create(server, [("t.txt", b"not a document")])
    events = _events(await subscribe(server, created["id"], protocol="graphql-ws"))
    assert events[0]["kind"] == "SNAPSHOT"


async def test_unknown_upload_is_not_found(server: str) -> None:
    messages = await subscribe(server, str(uuid.uuid4()))
    errors = messages[0]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_cross_origin_websocket_is_closed_saying_why(server: str) -> None:
    async with websockets.connect(
        f"ws://{server}/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        origin=websockets.Origin("http://evil.example"),
    ) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    reason = closed.value.rcvd.reason
    assert "http://evil.example" in reason and "PAGEMILL_ALLOWED_ORIGINS" in reason


async def test_subscription_lifetime_is_capped(client: httpx.AsyncClient) -> None:
    from gql.context import Context
    from gql.principals import ANONYMOUS
    from gql.subscriptions import upload_event_stream
    from settings import get_settings
    from tests.gql.support import create, data

    await data(client, "mutation { pauseProcessing { paused } }")
    try:
        created = await create(client, [("a.png", png())])
        settings = get_settings().model_copy(update={"subscription_max_seconds": 0.5})
        stream = upload_event_stream(
            uuid.UUID(created["id"]), None, Context(settings=settings, principal=ANONYMOUS)
        )
        events = [event async for event in stream]
    finally:
        await data(client, "mutation { resumeProcessing { paused } }")
    assert [e["kind"] for e in events] == ["SNAPSHOT"]
    assert events[0]["upload_status"] == "PENDING"


async def test_disconnect_releases_the_subscription(server: str, client: httpx.AsyncClient) -> None:
    from settings import get_settings
    from tasks.bus import InProcessBus, get_bus
    from tests.gql.support import create, data

    bus = get_bus(get_settings())
    assert isinstance(bus, InProcessBus)
    open_before = SUBSCRIPTIONS._value.get()
    await data(client, "mutation { pauseProcessing { paused } }")
    try:
        created = await create(client, [("a.png", png())])
        upload_id = uuid.UUID(created["id"])
        async with websockets.connect(
            f"ws://{server}/graphql", subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            payload = {"query": EVENTS, "variables": {"id": created["id"]}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            first = json.loads(await ws.recv())
            assert first["payload"]["data"]["uploadEvents"]["kind"] == "SNAPSHOT"
            # Its own listener, and its upload's fan-out room's.
            await wait_for(lambda: _listeners(bus, upload_id, 2), "the room to listen", timeout=30)
            assert SUBSCRIPTIONS._value.get() == open_before + 1
        await wait_for(lambda: _no_listeners(bus, upload_id), "the listener to leave", timeout=30)
        assert SUBSCRIPTIONS._value.get() == open_before
    finally:
        await data(client, "mutation { resumeProcessing { paused } }")


async def _no_listeners(bus: Any, upload_id: uuid.UUID) -> bool:
    return await _listeners(bus, upload_id, 0)


async def _listeners(bus: Any, upload_id: uuid.UUID, count: int) -> bool:
    return bool(bus.listener_count(upload_id) == count)


async def test_configured_origins_may_open_websockets(app: Any) -> None:
    port = free_port()
    allowed = make_app(allowed_origins=["https://console.example"])
    config = uvicorn.Config(
        allowed, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    try:
        await wait_for(lambda: started(instance), "uvicorn to start", timeout=30)
        protocols = [websockets.Subprotocol("graphql-transport-ws")]
        url = f"ws://127.0.0.1:{port}/graphql"
        origin = websockets.Origin("https://console.example")
        async with websockets.connect(url, subprotocols=protocols, origin=origin) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        same = websockets.Origin(f"http://127.0.0.1:{port}")
        async with websockets.connect(url, subprotocols=protocols, origin=same) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        other = websockets.Origin("https://other.example")
        async with websockets.connect(url, subprotocols=protocols, origin=other) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    finally:
        instance.should_exit = True
        await task


async def _append(upload_id: uuid.UUID) -> dict[str, Any]:
    from tortoise.transactions import in_transaction

    from models.events import append_event
    from models.upload import EventKind

    async with in_transaction():
        return await append_event(upload_id, EventKind.DOCUMENT_STARTED)


async def test_stream_reads_the_log_only_on_gaps_resyncs_and_moved_sequences(
    client: httpx.AsyncClient,
) -> None:
    from gql.sequencer import Sequencer
    from models.progress import snapshot
    from tasks.bus import RESYNC
    from tests.gql.support import create, data

    await data(client, "mutation { pauseProcessing { paused } }")
    try:
        created = await create(client, [("a.png", png())])
        upload_id = uuid.UUID(created["id"])
        start = await snapshot(upload_id)
        assert start is not None
        sequencer = Sequencer(upload_id, start["sequence"])
        assert await sequencer.accept(None) == []  # idle, nothing new
        assert await sequencer.accept(RESYNC) == []
        lost = await _append(upload_id)
        assert await sequencer.accept(None) == [lost]  # idle poll sees the moved sequence
        missed = await _append(upload_id)
        assert await sequencer.accept(RESYNC) == [missed]
        skipped, live = await _append(upload_id), await _append(upload_id)
        assert await sequencer.accept(live) == [skipped, live]  # a gap is filled from the log
        assert await sequencer.accept(skipped) == []
        following = await _append(upload_id)
        assert await sequencer.accept(following) == [following]
    finally:
        await data(client, "mutation { resumeProcessing { paused } }")
