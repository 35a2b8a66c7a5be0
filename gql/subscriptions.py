"""Subscription root: the snapshot of an upload, then its events in order, without gaps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.delivery import current_delivery
from gql.errors import NotFound
from gql.fanout import hub_for
from gql.members import Ending
from gql.metrics import SUBSCRIPTIONS
from gql.principals import owner_filter, sees_all
from gql.queries import parse_id
from gql.sequencer import Sequencer, sequence_of
from gql.status_types import UploadEvent
from models import progress
from models.upload import TERMINAL, EventKind, Status, Upload
from tasks.bus import get_bus

# Without any event for this long the upload's sequence is checked, in case a notification
# was lost without the bus noticing; gaps, overflows and reconnects are caught sooner.
POLL_SECONDS = 30.0


async def upload_event_stream(
    upload_id: UUID, after: int | None, context: Context
) -> AsyncIterator[dict[str, Any]]:
    """Without `after`, SNAPSHOT and then newer events; with it, the events after it and
    no SNAPSHOT. Then live events, in order, until UPLOAD_DONE."""
    settings = context.settings
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.subscription_max_seconds
    principal = context.principal
    if not sees_all(principal) and not await Upload.exists(owner_filter(principal), id=upload_id):
        raise NotFound(f"No upload {upload_id}")
    # Listening first: nothing committed from here on can pass unseen.
    async with get_bus(settings).listen(upload_id) as live:
        first, last = await (_start(upload_id) if after is None else _resume(upload_id, after))
        for stored in first:
            yield stored
        if last is None:
            return  # terminal: nothing follows
        delivery = current_delivery()
        if delivery is not None:
            # The room sends the live events straight to the socket; back here only to go on
            # alone from where it stopped.
            outcome = await hub_for(settings).follow(
                upload_id, last, delivery, context, deadline - loop.time()
            )
            if outcome.ending is not Ending.FALLBACK:
                return
            last = outcome.last
        sequencer = Sequencer(upload_id, last)
        while (remaining := deadline - loop.time()) > 0:
            event = await live.next(min(remaining, POLL_SECONDS))
            for ready in await sequencer.accept(event):
                yield ready
                if ready["kind"] == EventKind.UPLOAD_DONE:
                    return


Start = tuple[list[dict[str, Any]], int | None]


async def _start(upload_id: UUID) -> Start:
    """[SNAPSHOT], and its sequence unless the upload is terminal."""
    snapshot = await progress.snapshot(upload_id)
    if snapshot is None:
        raise NotFound(f"No upload {upload_id}")
    terminal = Status(snapshot["upload_status"]) in TERMINAL
    return [snapshot], None if terminal else sequence_of(snapshot)


async def _resume(upload_id: UUID, after: int) -> Start:
    """The stored events after `after`, and the last sequence sent unless the upload is
    terminal (its UPLOAD_DONE is then among them, or came at or before `after`)."""
    position = await progress.position(upload_id)  # read first: the replay reaches it
    if position is None:
        raise NotFound(f"No upload {upload_id}")
    missed = await progress.events_after(upload_id, after)
    last = sequence_of(missed[-1]) if missed else after
    # The upload may have ended between the two reads: its UPLOAD_DONE is then replayed.
    ended = any(event["kind"] == EventKind.UPLOAD_DONE for event in missed)
    return missed, None if ended or Status(position[1]) in TERMINAL else last


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="SNAPSHOT first (with `after`: the events after it, no SNAPSHOT), then "
        "every event in order; completes when terminal"
    )
    async def upload_events(
        self, info: Info[Context, None], id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[UploadEvent, None]:
        stream = upload_event_stream(parse_id(id), after, info.context)
        SUBSCRIPTIONS.inc()
        try:
            async for payload in stream:
                yield UploadEvent.from_payload(payload, info.context)
        finally:
            SUBSCRIPTIONS.dec()
            await stream.aclose()  # type: ignore[attr-defined]
