"""The progress event bus: notifications of committed state, in-process or over Redis pub/sub.

The service publishes through tasks/service/notify.py only; subscribers (the API) listen here.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol
from uuid import UUID

from settings import Settings
from tasks.listener import RESYNC, Listener
from tasks.redis_bus import RedisBus

__all__ = ["RESYNC", "EventBus", "InProcessBus", "Listener", "close_bus", "get_bus"]


class EventBus(Protocol):
    """Publishes progress events of an upload and lets subscribers listen to them."""

    async def publish(self, upload_id: UUID, event: dict[str, Any]) -> None: ...

    def listen(self, upload_id: UUID) -> AbstractAsyncContextManager[Listener]: ...

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
    async def listen(self, upload_id: UUID) -> AsyncIterator[Listener]:
        """Subscribed on enter; yields the upload's events until the context exits."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners[upload_id].add(queue)
        try:
            yield Listener(queue)
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
