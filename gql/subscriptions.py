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
    """SNAPSHOT, then (with `after`) the missed events, then live events until UPLOAD_DONE."""
    settings = context.settings
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.subscription_max_seconds
    principal = context.principal
    if not sees_all(principal) and not await Upload.exists(owner_filter(principal), id=upload_id):
        raise NotFound(f"No upload {upload_id}")
    async with get_bus(settings).listen(upload_id) as live:
        snapshot = await progress.snapshot(upload_id)
        if snapshot is None:
            raise NotFound(f"No upload {upload_id}")
        yield snapshot
        if after is not None:
            for missed in await progress.events_after(upload_id, after):
                if sequence_of(missed) <= sequence_of(snapshot):
                    yield missed
        if Status(snapshot["upload_status"]) in TERMINAL:
            return
        last = sequence_of(snapshot)
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


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="SNAPSHOT first, then every event in order; completes when terminal"
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
