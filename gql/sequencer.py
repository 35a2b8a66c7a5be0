"""Hands a subscriber the events of an upload strictly in sequence, each once: live events
from the bus, gaps and lost notifications filled from the event log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from models import progress
from tasks.bus import RESYNC


class Sequencer:
    """Hands out events strictly in sequence order, each once."""

    def __init__(self, upload_id: UUID, last: int) -> None:
        self.upload_id = upload_id
        self.last = last

    async def accept(self, event: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Events to send now: the gap before `event` from the log, then `event` itself.

        `None` means the bus was idle for a while and RESYNC that it may have lost events.
        """
        if event is RESYNC:
            event = None
        elif event is None:
            if await self._head() <= self.last:
                return []
        elif int(event["sequence"]) <= self.last:
            return []
        if event is not None and int(event["sequence"]) == self.last + 1:
            ready = [event]
        else:
            ready = await progress.events_after(self.upload_id, self.last)
            if event is not None and all(e["sequence"] != event["sequence"] for e in ready):
                ready.append(event)
        ready = sorted((e for e in ready if int(e["sequence"]) > self.last), key=sequence_of)
        if ready:
            self.last = int(ready[-1]["sequence"])
        return ready

    async def _head(self) -> int:
        # One indexed single-column read: the idle check must stay cheap per subscriber.
        found = await progress.head(self.upload_id)
        return self.last if found is None else found


def sequence_of(event: dict[str, Any]) -> int:
    """An event's sequence number."""
    return int(event["sequence"])
