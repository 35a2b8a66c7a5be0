"""The live fan-out: subscribers of one upload share a room that renders each event once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from gql.fanout import SEND_SECONDS, Hub, Room
from gql.members import Ending, Group, Member
from models.upload import Upload
from settings import get_settings
from tasks.bus import InProcessBus, get_bus
from tests.gql.support import data, png, wait_for
from tests.gql.test_subscriptions import _create, _events, subscribe


class Socket:
    """A WebSocket stand-in: records what it is sent, or stalls, or is gone."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        if self.mode == "stalled":
            await asyncio.sleep(3600)  # a client that stopped reading: the buffer is full
        if self.mode == "gone":
            raise RuntimeError('Cannot call "send" once a close message has been sent.')
        self.sent.append(text)


class FixedGroup(Group):
    """Renders every event to the same body, counting how often it is asked to."""

    def __init__(self) -> None:
        self.renders = 0

    def render(self, payload: dict[str, Any]) -> str | None:
        self.renders += 1
        return f'{{"data":{{"uploadEvents":{{"sequence":{payload["sequence"]}}}}}}}'


async def test_room_sends_each_event_to_every_member_and_drops_a_stalled_one(db: str) -> None:
    upload = await Upload.create(document_count=0)
    room = Room(Hub(get_settings()), upload.id)
    await room.started
    group = FixedGroup()
    sockets = {"a": Socket(), "stalled": Socket("stalled"), "b": Socket(), "gone": Socket("gone")}
    members = {
        name: Member(sock, group, 0, f'{{"id":"{name}","type":"next","payload":')  # type: ignore[arg-type]
        for name, sock in sockets.items()
    }
    for member in members.values():
        room.members[member] = None

    loop = asyncio.get_running_loop()
    started = loop.time()
    await room._deliver({"sequence": 1, "kind": "PAGE_DONE"})
    assert loop.time() - started < SEND_SECONDS * 4  # one stalled client holds up nobody long

    body = '{"data":{"uploadEvents":{"sequence":1}}}}'
    assert sockets["a"].sent == ['{"id":"a","type":"next","payload":' + body]
    assert sockets["b"].sent == ['{"id":"b","type":"next","payload":' + body]
    assert (members["a"].last, members["b"].last) == (1, 1)
    assert members["stalled"].outcome.result().ending is Ending.FALLBACK
    assert members["stalled"].outcome.result().last == 0  # goes on alone from here
    assert members["gone"].outcome.result().ending is Ending.GONE
    assert set(room.members) == {members["a"], members["b"]}

    await room._deliver({"sequence": 2, "kind": "PAGE_DONE"})
    await room._deliver({"sequence": 2, "kind": "PAGE_DONE"})  # a duplicate is not sent twice
    assert len(sockets["a"].sent) == len(sockets["b"].sent) == 2
    room.task.cancel()


@pytest.mark.timeout(120)
async def test_subscribers_share_one_room_and_see_the_same_events(server: str) -> None:
    bus = get_bus(get_settings())
    assert isinstance(bus, InProcessBus)
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=60) as client:
        await data(client, "mutation { pauseProcessing { paused } }")
        try:
            created = await _create(server, [("a.png", png()), ("b.png", png(32, 32))])
            upload_id = uuid.UUID(created["id"])
            streams = [asyncio.create_task(subscribe(server, created["id"])) for _ in range(12)]
            # The legacy protocol takes the ordinary path, outside the room.
            streams.append(
                asyncio.create_task(subscribe(server, created["id"], None, "graphql-ws"))
            )
            # Thirteen subscribers' own listeners, and one for the twelve's shared room.
            await wait_for(lambda: _listeners(bus, upload_id, 14), "the subscribers", 60)
        finally:
            await data(client, "mutation { resumeProcessing { paused } }")
        results = [_events(messages) for messages in await asyncio.gather(*streams)]
    assert all(events == results[0] for events in results)  # room or not, the same events
    kinds = [e["kind"] for e in results[0]]
    assert kinds[0] == "SNAPSHOT" and kinds[-1] == "UPLOAD_DONE"
    assert kinds.count("PAGE_DONE") == 2 and kinds.count("DOCUMENT_DONE") == 2
    sequences = [e["sequence"] for e in results[0]]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    await wait_for(lambda: _listeners(bus, upload_id, 0), "the room to close", 30)


async def _listeners(bus: Any, upload_id: uuid.UUID, count: int) -> bool:
    return bool(bus.listener_count(upload_id) == count)
