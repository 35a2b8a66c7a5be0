"""Event buses deliver in order to every listener and leave nothing behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from settings import get_settings
from tasks.events import EventBus, InProcessBus, RedisBus

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


async def client_count(admin: aioredis.Redis, name: str) -> int:
    clients = await admin.client_list()
    return sum(1 for c in clients if c.get("name") == name)


async def test_redis_bus_delivers_in_order_and_releases_connections(redis_url: str) -> None:
    bus = RedisBus(redis_url, get_settings().redis_prefix)
    admin = aioredis.from_url(redis_url)
    try:
        await bus.publish(uuid.uuid4(), {"warm": True})  # the publishing connection
        baseline = await client_count(admin, bus.client_name)
        await roundtrip(bus)
        upload_id = uuid.uuid4()
        async with bus.listen(upload_id):
            numsub = dict(await admin.pubsub_numsub(bus.channel(upload_id)))
            assert numsub[bus.channel(upload_id).encode()] == 1
            assert await client_count(admin, bus.client_name) == baseline + 1
        numsub = dict(await admin.pubsub_numsub(bus.channel(upload_id)))
        assert numsub[bus.channel(upload_id).encode()] == 0
        assert await client_count(admin, bus.client_name) == baseline
    finally:
        await bus.close()
        await admin.aclose()


async def test_redis_listener_abandoned_mid_stream_is_cleaned_up(redis_url: str) -> None:
    bus = RedisBus(redis_url, get_settings().redis_prefix)
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

        numsub = dict(await admin.pubsub_numsub(bus.channel(upload_id)))
        assert numsub[bus.channel(upload_id).encode()] == 0
        assert await client_count(admin, bus.client_name) == baseline
    finally:
        await bus.close()
        await admin.aclose()
