"""Uploads: the roll-up once every document is terminal, cancel, and retry of a document."""

from __future__ import annotations

import logging
from uuid import UUID

from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from models.events import append_event
from models.returning import update_returning
from models.upload import TERMINAL, Document, DocumentRange, ErrorCode, EventKind, Status, Upload
from tasks import queue
from tasks.service import enqueue, webhooks
from tasks.service.documents import ACTIVE, Events, now
from tasks.service.errors import InvalidInput
from tasks.service.notify import publish

logger = logging.getLogger(__name__)


def upload_outcome(statuses: list[Status]) -> Status | None:
    """The upload's terminal status from its documents', or None while any is still active."""
    if any(s not in TERMINAL for s in statuses):
        return None
    if Status.CANCELLED in statuses:
        return Status.CANCELLED
    if Status.COMPLETED in statuses:
        return Status.COMPLETED
    return Status.FAILED


async def roll_up(upload_id: UUID) -> Events:
    """Finish the upload once every document is terminal; UPLOAD_DONE is appended only once."""
    # Distinct statuses only: a finishing document of a 1000-file batch must not read every
    # sibling row. Read outside the transaction: most roll-ups find a document still active.
    statuses = await (
        Document.filter(upload_id=upload_id).distinct().values_list("status", flat=True)
    )
    outcome = upload_outcome([Status(str(s)) for s in statuses])
    if outcome is None:
        return []
    # A document retried since the read keeps the upload open.
    active = Document.filter(upload_id=upload_id, status__in=ACTIVE).values("upload_id")
    async with in_transaction():
        return await _finish_upload(upload_id, outcome, ~Q(id__in=Subquery(active)))


async def _finish_upload(upload_id: UUID, outcome: Status, condition: Q | None = None) -> Events:
    # The conditional update is the guard: of concurrent roll-ups only one changes the row.
    finished = Upload.filter(condition or Q(), id=upload_id, status__in=ACTIVE)
    rows = await update_returning(finished.update(status=outcome, finished_at=now()), "webhook_url")
    if not rows:
        return []
    event = await append_event(upload_id, EventKind.UPLOAD_DONE)
    await webhooks.plan(upload_id, outcome, rows[0]["webhook_url"])
    logger.info("upload %s finished: %s", upload_id, outcome.value)
    return [event]


async def cancel_upload(upload_id: UUID) -> Events:
    """Cancel every unfinished document and the upload; running conversions notice and stop."""
    async with in_transaction():
        # Lock every active document before append_event locks the upload row: workers lock
        # a document, then the upload; taking them one by one here deadlocked against them.
        rows = (
            await Document.filter(upload_id=upload_id, status__in=ACTIVE)
            .select_for_update()
            .only("id")  # values() would drop the FOR UPDATE
        )
        events: Events = []
        ids = [UUID(str(row.id)) for row in rows]
        await DocumentRange.filter(document_id__in=ids, status__in=ACTIVE).update(
            status=Status.CANCELLED, lease_owner=None, lease_expires=None, finished_at=now()
        )
        for document_id in ids:
            await Document.filter(id=document_id).update(
                status=Status.CANCELLED,
                error_code=ErrorCode.CANCELLED,
                error_message="cancelled",
                lease_owner=None,
                lease_expires=None,
                finished_at=now(),
            )
            events.append(
                await append_event(
                    upload_id,
                    EventKind.DOCUMENT_FAILED,
                    document_id=str(document_id),
                    document_status=Status.CANCELLED.value,
                    counting=document_id,
                    error_code=ErrorCode.CANCELLED.value,
                )
            )
        events += await _finish_upload(upload_id, Status.CANCELLED)
    return events


async def retry_document(document_id: UUID) -> bool:
    """Put a FAILED or CANCELLED document back to PENDING (attempts reset) and its upload
    back in progress; the caller enqueues it."""
    async with in_transaction():
        doc = await Document.get_or_none(
            id=document_id, status__in=(Status.FAILED, Status.CANCELLED)
        )
        if doc is None:
            return False
        upload = await Upload.get(id=doc.upload_id)
        # Its pages recorded are kept; a new run splits what is left again.
        await DocumentRange.filter(document_id=document_id).delete()
        await Document.filter(id=document_id).update(
            status=Status.PENDING,
            attempts=0,
            error_code=None,
            error_message=None,
            finished_at=None,
            lease_owner=None,
            lease_expires=None,
        )
        await Upload.filter(id=upload.id).update(
            status=Status.IN_PROGRESS,
            finished_at=None,
            archive_path=None,
            revision=F("revision") + 1,  # no event records a retry
        )
    return True


async def finish_upload(upload_id: UUID) -> None:
    """Roll the upload up; once it is terminal, queue its archive."""
    events = await roll_up(upload_id)
    await publish(upload_id, events)
    if events:
        await queue.send(queue.ARCHIVE_UPLOAD, str(upload_id))


async def cancel(upload_id: UUID, visible: Q | None = None) -> Upload | None:
    """Cancel the open documents of an upload; None if the upload is unknown (or not among
    the `visible` uploads, a filter on Upload)."""
    if not await Upload.exists(visible or Q(), id=upload_id):
        return None
    events = await cancel_upload(upload_id)
    await publish(upload_id, events)
    if any(e["kind"] == EventKind.UPLOAD_DONE for e in events):
        await queue.send(queue.ARCHIVE_UPLOAD, str(upload_id))
    return await Upload.get(id=upload_id)


async def retry(document_id: UUID, visible: Q | None = None) -> Document | None:
    """Convert a FAILED or CANCELLED document again; None if the document is unknown (or not
    among the `visible` documents, a filter on Document)."""
    row = await Document.get_or_none(visible or Q(), id=document_id)
    if row is None:
        return None
    if not await retry_document(document_id):
        raise InvalidInput(
            f"Document {document_id} is {row.status}: only FAILED or CANCELLED documents "
            "can be retried"
        )
    await enqueue.enqueue_documents([document_id])
    return await Document.get(id=document_id)
