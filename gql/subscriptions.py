"""Subscription root: the snapshot of an upload, then its events in order, without gaps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.errors import NotFound
from gql.metrics import SUBSCRIPTIONS
from gql.queries import parse_id
from gql.types import UploadEvent
from models import progress
from models.upload import TERMINAL, EventKind, Status, Upload
from settings import Settings
from tasks.events import RESYNC, get_bus

# Without any event for this long the upload's sequence is checked, in case a notification
# was lost without the bus noticing; gaps, overflows and reconnects are caught sooner.
POLL_SECONDS = 30.0


async def _pump(
    source: AsyncIterator[dict[str, Any]], queue: asyncio.Queue[dict[str, Any]]
) -> None:
    # A separate task: timing out a wait on the queue must never cancel the bus iterator.
    async for event in source:
        await queue.put(event)


class _Sequencer:
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
        ready = sorted((e for e in ready if int(e["sequence"]) > self.last), key=_seq)
        if ready:
            self.last = int(ready[-1]["sequence"])
        return ready

    async def _head(self) -> int:
        # One indexed single-column read: the idle check must stay cheap per subscriber.
        rows = await Upload.filter(id=self.upload_id).values("sequence")
        return int(rows[0]["sequence"]) if rows else self.last


def _seq(event: dict[str, Any]) -> int:
    return int(event["sequence"])


async def upload_event_stream(
    upload_id: UUID, after: int | None, settings: Settings
) -> AsyncIterator[dict[str, Any]]:
    """SNAPSHOT, then (with `after`) the missed events, then live events until UPLOAD_DONE."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.subscription_max_seconds
    async with get_bus(settings).listen(upload_id) as live:
        snapshot = await progress.snapshot(upload_id)
        if snapshot is None:
            raise NotFound(f"No upload {upload_id}")
        yield snapshot
        if after is not None:
            for missed in await progress.events_after(upload_id, after):
                if _seq(missed) <= _seq(snapshot):
                    yield missed
        if Status(snapshot["upload_status"]) in TERMINAL:
            return
        sequencer = _Sequencer(upload_id, _seq(snapshot))
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        pump = asyncio.create_task(_pump(live, queue))
        try:
            while (remaining := deadline - loop.time()) > 0:
                event: dict[str, Any] | None = None
                # asyncio.timeout, unlike wait_for on 3.11, starts no task per event.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, POLL_SECONDS)):
                        event = await queue.get()
                for ready in await sequencer.accept(event):
                    yield ready
                    if ready["kind"] == EventKind.UPLOAD_DONE:
                        return
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="SNAPSHOT first, then every event in order; completes when terminal"
    )
    async def upload_events(
        self, info: Info[Context, None], id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[UploadEvent, None]:
        stream = upload_event_stream(parse_id(id), after, info.context.settings)
        SUBSCRIPTIONS.inc()
        try:
            async for payload in stream:
                yield UploadEvent.from_payload(payload, info.context)
        finally:
            SUBSCRIPTIONS.dec()
            await stream.aclose()  # type: ignore[attr-defined]
