"""The progress event bus: notifications of committed state, in-process or over Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol
from uuid import UUID

import redis.asyncio as aioredis

from settings import Settings
from tasks.broker import reconnecting

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 10.0


class EventBus(Protocol):
    """Publishes progress events of an upload and lets subscribers listen to them."""

    async def publish(self, upload_id: UUID, event: dict[str, Any]) -> None: ...

    def listen(
        self, upload_id: UUID
    ) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Events between tasks of one process (the embedded default): one queue per listener."""

    def __init__(self) -> None:
        self._listeners: defaultdict[UUID, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    async def publish(self, upload_id: UUID, event: dict[str, Any]) -> None:
        """Hand the event to every current listener of the upload."""
        for queue in list(self._listeners.get(upload_id, ())):
            queue.put_nowait(event)

    @asynccontextmanager
    async def listen(self, upload_id: UUID) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribed on enter; yields the upload's events until the context exits."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners[upload_id].add(queue)
        try:
            yield _drain(queue)
        finally:
            listeners = self._listeners.get(upload_id)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    del self._listeners[upload_id]

    def listener_count(self, upload_id: UUID) -> int:
        """How many listeners an upload has (for tests and metrics)."""
        return len(self._listeners.get(upload_id, ()))

    async def close(self) -> None:
        """Nothing to release: listeners leave on their own."""


async def _drain(queue: asyncio.Queue[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    while True:
        yield await queue.get()


MAX_CONNECTIONS = 10_000  # Redis's own default maxclients


class RedisBus:
    """Events between processes and hosts over Redis pub/sub, one channel per upload."""

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client_name = f"{prefix}:events"
        # Each live subscription holds a pooled connection for its pub/sub; redis-py 8 caps
        # the pool at 100 by default, which refused the 101st subscriber of an API process.
        self._client: aioredis.Redis = aioredis.from_url(
            url, client_name=self.client_name, max_connections=MAX_CONNECTIONS, **reconnecting()
        )

    def channel(self, upload_id: UUID) -> str:
        """The pub/sub channel of one upload."""
        return f"{self.prefix}:events:{upload_id}"

    async def publish(self, upload_id: UUID, event: dict[str, Any]) -> None:
        """Publish the event as JSON on the upload's channel."""
        await self._client.publish(self.channel(upload_id), json.dumps(event))

    @asynccontextmanager
    async def listen(self, upload_id: UUID) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribed (confirmed by Redis) on enter; the connection is closed on exit."""
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self.channel(upload_id))
            await _confirmed(pubsub)
            yield _messages(pubsub)
        finally:
            try:
                await pubsub.unsubscribe()
            except (aioredis.RedisError, OSError):
                logger.debug("unsubscribe failed for upload %s", upload_id, exc_info=True)
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Close the publishing connections."""
        await self._client.aclose()


async def _confirmed(pubsub: aioredis.client.PubSub) -> None:
    # Waiting for Redis to confirm the subscription means nothing published afterwards
    # (e.g. between reading the snapshot and streaming) can slip past this listener.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SUBSCRIBE_TIMEOUT
    while loop.time() < deadline:
        message = await pubsub.get_message(timeout=deadline - loop.time())
        if message is not None and message["type"] == "subscribe":
            return
    raise TimeoutError("Redis did not confirm the subscription")


async def _messages(pubsub: aioredis.client.PubSub) -> AsyncIterator[dict[str, Any]]:
    async for message in pubsub.listen():
        if message["type"] != "message":
            continue
        try:
            event = json.loads(message["data"])
        except ValueError:
            logger.warning("dropped a malformed event on %s", message["channel"])
            continue
        if isinstance(event, dict):
            yield event


_buses: dict[str, EventBus] = {}


def get_bus(settings: Settings) -> EventBus:
    """The process's event bus: Redis pub/sub when Redis is configured, else in-process."""
    key = settings.redis_url
    bus = _buses.get(key)
    if bus is None:
        bus = RedisBus(settings.redis_url, settings.redis_prefix) if key else InProcessBus()
        _buses[key] = bus
    return bus


async def close_bus(settings: Settings) -> None:
    """Close this process's bus (a later get_bus makes a new one)."""
    bus = _buses.pop(settings.redis_url, None)
    if bus is not None:
        await bus.close()
