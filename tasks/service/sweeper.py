"""Finds documents nobody is working on and queues them again: a dead worker's document (its
lease expired), or one whose message was lost."""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.changes import touch_documents
from models.upload import Document, DocumentRange, Status
from settings import Settings
from tasks.service import control, ranges
from tasks.service.documents import now
from tasks.service.enqueue import kick, pending_grace

logger = logging.getLogger(__name__)

BATCH = 200


async def sweep(settings: Settings, *, pending_after: float | None = None) -> list[UUID]:
    """One pass; safe to run in many processes at once. Returns the documents queued again.

    `pending_after` overrides how old an unqueued PENDING document must be (0: all of them,
    e.g. right after processing is resumed).
    """
    if await control.is_paused():
        return []
    claimed = await _expired_leases(settings) + await _forgotten(settings, pending_after)
    if claimed:
        logger.info("sweeper queues %d documents again", len(claimed))
        await kick(claimed)
    for document_id, range_id in await _stalled_ranges(settings, forced=pending_after is not None):
        await ranges.kick(document_id, [range_id])
    await control.prune_workers(settings)
    return claimed


async def _expired_leases(settings: Settings) -> list[UUID]:
    # A worker died or stalled mid-document: back to PENDING (the attempt stays counted).
    moment = now()
    rows = (
        await Document.filter(status=Status.IN_PROGRESS, lease_expires__lt=moment)
        .limit(BATCH)
        .values("id")
    )
    candidates = [UUID(str(row["id"])) for row in rows]
    until = moment + timedelta(seconds=pending_grace(settings))
    claimed: list[UUID] = []
    for document_id in candidates:
        # Each claim is a conditional update, so of concurrent sweepers exactly one wins.
        async with in_transaction():
            won = await Document.filter(
                id=document_id, status=Status.IN_PROGRESS, lease_expires__lt=moment
            ).update(status=Status.PENDING, lease_owner=None, lease_expires=until)
            if won:
                await touch_documents([document_id])
        if won:
            logger.warning("lease of document %s expired; queued again", document_id)
            claimed.append(document_id)
    return claimed


async def _forgotten(settings: Settings, pending_after: float | None) -> list[UUID]:
    # Stored but never queued (crash between commit and enqueue), or its message was lost.
    moment = now()
    grace = pending_grace(settings) if pending_after is None else pending_after
    never_queued = Q(lease_expires__isnull=True, created_at__lte=moment - timedelta(seconds=grace))
    until = moment + timedelta(seconds=pending_grace(settings))
    # Forced (after a resume): every queued mark older than the one this pass would set.
    overdue = Q(lease_expires__lt=moment if pending_after is None else until)
    claimed: list[UUID] = []
    for condition in (never_queued, overdue):
        rows = await Document.filter(condition, status=Status.PENDING).limit(BATCH).values("id")
        for document_id in (UUID(str(row["id"])) for row in rows):
            # The claim re-checks the condition; the new mark makes it false for other sweepers.
            won = await Document.filter(condition, id=document_id, status=Status.PENDING).update(
                lease_expires=until
            )
            if won:
                claimed.append(document_id)
    return claimed


async def _stalled_ranges(settings: Settings, *, forced: bool) -> list[tuple[UUID, UUID]]:
    # A range whose worker died (its lease expired), or whose message was lost or whose
    # worker gave it back: queued again alone; the pages it recorded stay recorded.
    moment = now()
    until = moment + timedelta(seconds=pending_grace(settings))
    overdue = Q(status=Status.PENDING, lease_expires__lt=until if forced else moment)
    expired = Q(status=Status.IN_PROGRESS, lease_expires__lt=moment)
    rows = await DocumentRange.filter(overdue | expired).limit(BATCH).values("id", "document_id")
    claimed: list[tuple[UUID, UUID]] = []
    for row in rows:
        # The claim re-checks the condition; the new mark makes it false for other sweepers.
        won = await DocumentRange.filter(overdue | expired, id=row["id"]).update(
            status=Status.PENDING, lease_owner=None, lease_expires=until
        )
        if won:
            logger.warning("range %s of document %s queued again", row["id"], row["document_id"])
            claimed.append((UUID(str(row["document_id"])), UUID(str(row["id"]))))
    return claimed
