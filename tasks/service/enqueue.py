"""Queueing conversions of committed documents, and the marks that keep the sweeper away."""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from models.upload import Document, Status
from settings import Settings, get_settings
from tasks import queue
from tasks.service.documents import now

logger = logging.getLogger(__name__)


async def enqueue_documents(ids: list[UUID]) -> None:
    """Queue conversions of committed PENDING documents (call after the commit)."""
    settings = get_settings()
    await mark_enqueued(ids, settings)
    try:
        await kick(ids)
    except Exception:
        # The documents are committed: mark them due, so the next sweep queues them, and do
        # not fail the caller (an upload the client retries would be stored twice).
        logger.warning("queueing %d documents failed; the sweeper will", len(ids), exc_info=True)
        await Document.filter(id__in=ids, status=Status.PENDING).update(lease_expires=now())


async def mark_enqueued(ids: list[UUID], settings: Settings) -> None:
    """Note when documents were queued, so the sweeper leaves them alone for a while."""
    until = now() + timedelta(seconds=pending_grace(settings))
    await Document.filter(id__in=ids, status=Status.PENDING).update(lease_expires=until)


async def kick(ids: list[UUID]) -> None:
    """Send one convert message per document."""
    for document_id in ids:
        await queue.send(queue.CONVERT_DOCUMENT, str(document_id))


def pending_grace(settings: Settings) -> float:
    """How long a queued document may wait before the sweeper queues it again."""
    return max(60.0, 4 * settings.lease_seconds)
