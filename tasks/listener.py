"""What a subscriber of the event bus reads: one upload's events, in arrival order."""

from __future__ import annotations

import asyncio
from typing import Any

# Handed to a listener in place of events it may have missed (its queue overflowed, or Redis
# was reconnected): the listener reads the event log instead. Compared by identity.
RESYNC: dict[str, Any] = {"resync": True}


class Listener:
    """One listener's events of one upload, in arrival order (also an async iterator)."""

    def __init__(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.queue = queue

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self.queue.get()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when none came within `timeout` seconds."""
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
        try:
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None
