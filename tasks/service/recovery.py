"""Documents whose task messages were consumed while a dependency was down: queued again as
soon as the database answers, not after the sweeper's grace period."""

from __future__ import annotations

import logging
from uuid import UUID

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.changes import touch_documents
from models.upload import Document, Status
from settings import get_settings
from tasks.dependencies import database_answers, is_unavailable
from tasks.service.enqueue import kick, mark_enqueued

logger = logging.getLogger(__name__)


async def requeue_missed(missed: set[UUID], worker_id: str) -> list[UUID]:
    """Once the database answers: hand back what this worker held and queue the missed
    documents again (taken out of `missed`); the ids queued, none while it is still down."""
    if not missed or not await database_answers():
        return []
    ids = list(missed)
    missed.difference_update(ids)
    try:
        queued = await _requeue(ids, worker_id)
    except Exception as exc:
        missed.update(ids)  # still unreachable (Redis, or the database again): next time
        if not is_unavailable(exc):
            raise
        return []
    logger.warning("dependency back: %d documents queued again at once", len(queued))
    return queued


async def _requeue(ids: list[UUID], worker_id: str) -> list[UUID]:
    # A conversion cut short by the outage: given back untouched, its attempt not counted.
    ours = Q(id__in=ids, status=Status.IN_PROGRESS, lease_owner__startswith=f"{worker_id}:")
    async with in_transaction():
        await Document.filter(ours).update(
            status=Status.PENDING, lease_owner=None, lease_expires=None, attempts=F("attempts") - 1
        )
        await touch_documents(ids)
    rows = await Document.filter(id__in=ids, status=Status.PENDING).values_list("id", flat=True)
    pending = [UUID(str(row)) for row in rows]
    if pending:
        await mark_enqueued(pending, get_settings())
        await kick(pending)
    return pending
