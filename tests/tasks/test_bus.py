"""Event buses deliver in order to every listener and leave nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from settings import get_settings
from tasks import redis_bus as events_module
from tasks.bus import RESYNC, EventBus, InProcessBus
from tasks.redis_bus import RedisBus
from tests.waiting import eventually

DEADLINE = 10.0


async def take(events: AsyncIterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [await anext(events) for _ in range(n)]

    return await asyncio.wait_for(collect(), DEADLINE)


async def roundtrip(bus: EventBus) -> None:
    upload_id = uuid.uuid4()
    other = uuid.uuid4()
    async with bus.listen(upload_id) as first, bus.listen(upload_id) as second:
        await bus.publish(other, {"sequence": 99})
        for n in range(1, 21):
            await bus.publish(upload_id, {"sequence": n, "kind": "PAGE_DONE"})
        got_first = await take(first, 20)
        got_second = await take(second, 20)
    assert [e["sequence"] for e in got_first] == list(range(1, 21))
    assert got_second == got_first


async def test_in_process_bus_delivers_in_order_and_forgets_listeners() -> None:
    bus = InProcessBus()
    await roundtrip(bus)
    upload_id = uuid.uuid4()
    async with bus.listen(upload_id):
        assert bus.listener_count(upload_id) == 1
    assert bus.listener_count(upload_id) == 0


def own_prefix() -> str:
    """A prefix (and so a connection name) of this bus alone: other tests' buses of the run,
    still closing, must not count."""
    return f"{get_settings().redis_prefix}-{uuid.uuid4().hex[:8]}"


async def client_count(admin: aioredis.Redis, name: str) -> int:
    clients = await admin.client_list()
    return sum(1 for c in clients if c.get("name") == name)


async def settles_at(admin: aioredis.Redis, name: str, expected: int) -> None:
    """Wait until the bus has `expected` connections: Redis lists a connection the bus opened
    or closed a moment after the bus has moved on."""
    await eventually(
        lambda: _count_is(admin, name, expected), DEADLINE, f"{expected} connections named {name}"
    )


async def _count_is(admin: aioredis.Redis, name: str, expected: int) -> bool:
    return await client_count(admin, name) == expected


async def subscribers(admin: aioredis.Redis, channel: str) -> int:
    """How many Redis connections are subscribed to `channel` (PUBSUB NUMSUB)."""
    return int(dict(await admin.pubsub_numsub(channel))[channel.encode()])


async def subscribed_by(admin: aioredis.Redis, channel: str, expected: int) -> None:
    """Wait until `expected` connections are subscribed to `channel` (a closed connection's
    subscription ends when Redis notices the close)."""

    async def reached() -> bool:
        return await subscribers(admin, channel) == expected

    await eventually(reached, DEADLINE, f"{expected} subscribers of {channel}")


async def test_redis_bus_delivers_in_order_and_releases_connections(redis_url: str) -> None:
    bus = RedisBus(redis_url, own_prefix())
    admin = aioredis.from_url(redis_url)
    try:
        await bus.publish(uuid.uuid4(), {"warm": True})  # the publishing connection
        baseline = await client_count(admin, bus.client_name)
        await roundtrip(bus)
        upload_id = uuid.uuid4()
        async with bus.listen(upload_id):
            assert await subscribers(admin, bus.channel(upload_id)) == 1
            await settles_at(admin, bus.client_name, baseline + 1)
        await subscribed_by(admin, bus.channel(upload_id), 0)
        await settles_at(admin, bus.client_name, baseline)
    finally:
        await bus.close()
        await admin.aclose()


async def test_redis_listener_abandoned_mid_stream_is_cleaned_up(redis_url: str) -> None:
    bus = RedisBus(redis_url, own_prefix())
    admin = aioredis.from_url(redis_url)
    upload_id = uuid.uuid4()
    try:
        await bus.publish(upload_id, {"warm": True})
        baseline = await client_count(admin, bus.client_name)

        async def consume() -> None:
            async with bus.listen(upload_id) as events:
                async for _ in events:
                    pass

        consumer = asyncio.create_task(consume())
        async with bus.listen(upload_id) as probe:  # proves the consumer can be subscribed
            await bus.publish(upload_id, {"sequence": 1})
            await take(probe, 1)
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)

        await subscribed_by(admin, bus.channel(upload_id), 0)
        await settles_at(admin, bus.client_name, baseline)
    finally:
        await bus.close()
        await admin.aclose()


async def test_redis_listeners_of_one_upload_share_one_subscription(redis_url: str) -> None:
    bus = RedisBus(redis_url, own_prefix())
    admin = aioredis.from_url(redis_url)
    upload_id = uuid.uuid4()
    channel = bus.channel(upload_id)
    try:
        await bus.publish(upload_id, {"warm": True})
        baseline = await client_count(admin, bus.client_name)
        async with contextlib.AsyncExitStack() as stack:
            listeners = [await stack.enter_async_context(bus.listen(upload_id)) for _ in range(50)]
            assert await subscribers(admin, channel) == 1
            await settles_at(admin, bus.client_name, baseline + 1)
            assert bus.listener_count(upload_id) == 50
            for n in range(1, 31):
                await bus.publish(upload_id, {"sequence": n, "kind": "PAGE_DONE"})
            for events in listeners:
                assert [e["sequence"] for e in await take(events, 30)] == list(range(1, 31))
        await subscribed_by(admin, channel, 0)
        await settles_at(admin, bus.client_name, baseline)
        assert bus.listener_count(upload_id) == 0
    finally:
        await bus.close()
        await admin.aclose()


async def test_redis_listeners_of_many_uploads_share_one_connection(redis_url: str) -> None:
    bus = RedisBus(redis_url, own_prefix())
    admin = aioredis.from_url(redis_url)
    uploads = [uuid.uuid4() for _ in range(5)]
    try:
        await bus.publish(uploads[0], {"warm": True})
        baseline = await client_count(admin, bus.client_name)
        async with contextlib.AsyncExitStack() as stack:
            listeners = [await stack.enter_async_context(bus.listen(u)) for u in uploads]
            await settles_at(admin, bus.client_name, baseline + 1)
            async with bus.listen(uploads[0]):
                pass  # one upload's last listener leaving keeps the others subscribed
            for index, upload_id in enumerate(uploads):
                await bus.publish(upload_id, {"sequence": index})
            for index, events in enumerate(listeners):
                assert [e["sequence"] for e in await take(events, 1)] == [index]
        await settles_at(admin, bus.client_name, baseline)
    finally:
        await bus.close()
        await admin.aclose()


async def test_slow_redis_listener_is_told_to_resync_without_blocking_others(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "LISTENER_QUEUE", 5)
    bus = RedisBus(redis_url, own_prefix())
    upload_id = uuid.uuid4()
    try:
        async with bus.listen(upload_id) as slow, bus.listen(upload_id) as fast:
            received = []
            for n in range(1, 21):
                await bus.publish(upload_id, {"sequence": n})
                received.extend(await take(fast, 1))
            assert [e["sequence"] for e in received] == list(range(1, 21))
            lagging = await take(slow, 1)
            assert lagging[0] is RESYNC
    finally:
        await bus.close()


async def test_redis_listeners_resync_after_the_connection_drops(redis_url: str) -> None:
    bus = RedisBus(redis_url, own_prefix())
    admin = aioredis.from_url(redis_url)
    upload_id = uuid.uuid4()
    try:
        async with bus.listen(upload_id) as events:
            await admin.client_kill_filter(_type="pubsub", skipme=True)
            assert (await take(events, 1))[0] is RESYNC

            await subscribed_by(admin, bus.channel(upload_id), 1)
            await bus.publish(upload_id, {"sequence": 7})
            later = await take(events, 1)
            while later[0] is RESYNC:  # a second reconnect may have happened meanwhile
                later = await take(events, 1)
            assert later[0]["sequence"] == 7
    finally:
        await bus.close()
        await admin.aclose()
