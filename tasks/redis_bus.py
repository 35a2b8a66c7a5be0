"""The event bus between processes: Redis pub/sub, one channel per upload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis

from tasks.listener import RESYNC, Listener
from tasks.redis_retry import reconnecting

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 10.0
MAX_CONNECTIONS = 10_000  # Redis's own default maxclients
LISTENER_QUEUE = 1_000  # events a listener may lag behind before it must refill from the log
RECONNECT_DELAY = 1.0


class _Channel:
    """The local listeners of one upload's channel, sharing one Redis subscription."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self.confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def offer(self, event: dict[str, Any]) -> None:
        """Queue the event for every listener; an overflowing one gets RESYNC instead."""
        for queue in self.queues:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                # A slow listener must not hold up the others: it refills from the log.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)


class RedisBus:
    """Events between processes over Redis pub/sub, one channel per upload.

    A process holds one pub/sub connection and one subscription per upload however many
    local listeners it has; a single reader task parses each message once and fans it out.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client_name = f"{prefix}:events"
        self._client: aioredis.Redis = aioredis.from_url(
            url, client_name=self.client_name, max_connections=MAX_CONNECTIONS, **reconnecting()
        )
        # Its own pool, so the one pub/sub connection never borrows a publishing connection.
        self._subscriber: aioredis.Redis = aioredis.from_url(
            url, client_name=self.client_name, **reconnecting()
        )
        self._channels: dict[str, _Channel] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def channel(self, upload_id: UUID) -> str:
        """The pub/sub channel of one upload."""
        return f"{self.prefix}:events:{upload_id}"

    async def publish(self, upload_id: UUID, event: dict[str, Any]) -> None:
        """Publish the event as JSON on the upload's channel."""
        await self._client.publish(self.channel(upload_id), json.dumps(event))

    @asynccontextmanager
    async def listen(self, upload_id: UUID) -> AsyncIterator[Listener]:
        """Subscribed (confirmed by Redis) on enter; unsubscribed when the last listener leaves."""
        name = self.channel(upload_id)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=LISTENER_QUEUE)
        channel = await self._join(name, queue)
        try:
            # Waiting for Redis to confirm the subscription means nothing published afterwards
            # (e.g. between reading the snapshot and streaming) can slip past this listener.
            await asyncio.wait_for(asyncio.shield(channel.confirmed), SUBSCRIBE_TIMEOUT)
            yield Listener(queue)
        finally:
            await self._leave(name, channel, queue)

    def listener_count(self, upload_id: UUID) -> int:
        """How many local listeners an upload has (for tests and metrics)."""
        channel = self._channels.get(self.channel(upload_id))
        return 0 if channel is None else len(channel.queues)

    async def _join(self, name: str, queue: asyncio.Queue[dict[str, Any]]) -> _Channel:
        async with self._lock:
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = _Channel()
                try:
                    await self._subscribe(name)
                except BaseException:
                    del self._channels[name]
                    raise
            channel.queues.add(queue)
            return channel

    async def _subscribe(self, name: str) -> None:
        if self._pubsub is None:
            self._pubsub = self._subscriber.pubsub()
        await self._pubsub.subscribe(name)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def _leave(self, name: str, channel: _Channel, queue: asyncio.Queue[Any]) -> None:
        async with self._lock:
            channel.queues.discard(queue)
            if channel.queues or self._channels.get(name) is not channel:
                return
            del self._channels[name]
            if not self._channels:
                await self._stop()
                return
            try:
                if self._pubsub is not None:
                    await self._pubsub.unsubscribe(name)
            except (aioredis.RedisError, OSError):
                logger.debug("unsubscribe failed for %s", name, exc_info=True)

    async def _read(self) -> None:
        resubscribe = False
        while True:
            try:
                if resubscribe:
                    await self._resubscribe()
                    resubscribe = False
                await self._dispatch_messages()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning(
                    "event bus lost its Redis subscription; resubscribing", exc_info=True
                )
                if not resubscribe:  # once per outage; resubscribing confirms with another
                    for channel in list(self._channels.values()):
                        channel.offer(RESYNC)
                resubscribe = True
                await asyncio.sleep(RECONNECT_DELAY)

    async def _dispatch_messages(self) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            raise RuntimeError("event bus reader runs without a subscription")
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        name = message["channel"]
        channel = self._channels.get(name.decode() if isinstance(name, bytes) else name)
        if channel is None:
            return
        if message["type"] == "subscribe":
            if channel.confirmed.done():
                # redis-py resubscribed after reconnecting: events may have been missed.
                channel.offer(RESYNC)
            else:
                channel.confirmed.set_result(None)
        elif message["type"] == "message":
            try:
                event = json.loads(message["data"])
            except ValueError:
                logger.warning("dropped a malformed event on %s", name)
                return
            if isinstance(event, dict):
                channel.offer(event)

    async def _resubscribe(self) -> None:
        async with self._lock:
            old, self._pubsub = self._pubsub, self._subscriber.pubsub()
            if old is not None:
                with contextlib.suppress(aioredis.RedisError, OSError):
                    await old.aclose()  # type: ignore[no-untyped-call]
            if self._channels:
                await self._pubsub.subscribe(*self._channels)

    async def _stop(self) -> None:
        reader, self._reader = self._reader, None
        pubsub, self._pubsub = self._pubsub, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if pubsub is not None:
            with contextlib.suppress(aioredis.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Drop the shared subscription and close the publishing connections."""
        async with self._lock:
            await self._stop()
        await self._subscriber.aclose()
        await self._client.aclose()
