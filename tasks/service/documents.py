"""Leases and state transitions of one document; each commits and returns the events to publish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.expressions import F, Q
from tortoise.functions import Coalesce
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.changes import touch_documents, touch_upload
from models.events import append_event
from models.progress import document_progress
from models.returning import as_uuid, update_returning, update_returning_row
from models.upload import Document, ErrorCode, EventKind, Status
from settings import Settings
from tasks.engine.errors import without_paths
from tasks.sandbox.runner import ConversionOutcome

Events = list[dict[str, Any]]
ACTIVE = (Status.PENDING, Status.IN_PROGRESS)
# Document.lease_owner while its page ranges convert: no single task holds the document.
RANGED = "ranges"


class LeaseLost(Exception):
    """The document is no longer ours: cancelled, or taken over after our lease expired."""


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def lease_until(settings: Settings) -> datetime:
    """When a lease taken or renewed now runs out."""
    return now() + timedelta(seconds=settings.lease_seconds)


async def start_document(
    document_id: UUID, owner: str, settings: Settings
) -> tuple[Document | None, Events]:
    """Take the document's lease and mark it started; None if someone else holds it."""
    takeable = Document.filter(
        Q(status=Status.PENDING)
        | Q(status=Status.IN_PROGRESS, lease_expires__lt=now())
        | Q(status=Status.IN_PROGRESS, lease_expires__isnull=True, lease_owner__isnull=True)
        | Q(status=Status.IN_PROGRESS, lease_expires__isnull=True, lease_owner__not=RANGED),
        id=document_id,
    )
    async with in_transaction():
        doc = await update_returning_row(
            Document,
            takeable.update(
                status=Status.IN_PROGRESS,
                lease_owner=owner,
                lease_expires=lease_until(settings),
                attempts=F("attempts") + 1,
                started_at=Coalesce("started_at", now()),
            ),
        )
        if doc is None:
            return None, []
        if doc.attempts > settings.max_attempts:
            # Its earlier runs took their worker down with them (no outcome was recorded).
            return None, await fail(doc, ErrorCode.WORKER_CRASHED, _crash_message(doc))
        event = await append_event(
            upload_id_of(doc),
            EventKind.DOCUMENT_STARTED,
            counting=doc.id,
            starts_upload=True,
            document_id=str(doc.id),
            document_status=Status.IN_PROGRESS.value,
            page_count=doc.page_count,
        )
    return doc, [event]


def _crash_message(doc: Document) -> str:
    return f"conversion did not finish after {doc.attempts - 1} attempts (worker lost)"


def upload_id_of(doc: Document) -> UUID:
    """The id of a document's upload (the raw foreign key column)."""
    value = doc.upload_id
    return value if isinstance(value, UUID) else UUID(str(value))


async def renew_lease(document_id: UUID, owner: str, settings: Settings) -> bool:
    """Extend our lease; False when the document was cancelled or taken over."""
    renewed = await held(document_id, owner).update(lease_expires=lease_until(settings))
    return renewed == 1


async def set_page_count(document_id: UUID, owner: str, count: int) -> None:
    """Record the page count once the conversion knows it."""
    async with in_transaction():
        if await held(document_id, owner).update(page_count=count):
            await touch_documents([document_id])


def held(document_id: UUID, owner: str) -> QuerySet[Document]:
    """The document while `owner` holds its lease."""
    return Document.filter(id=document_id, lease_owner=owner, status=Status.IN_PROGRESS)


async def finish_document(
    document_id: UUID, owner: str, finish: ConversionOutcome, settings: Settings
) -> tuple[Events, bool]:
    """Record how a run ended. Returns (events, retry): retry means PENDING again."""
    async with in_transaction():
        if finish.error_code is None and finish.page_count is not None:
            # The usual ending: one conditional update checks the lease and completes.
            completed = held(document_id, owner).update(**_completed(finish.page_count))
            rows = await update_returning(completed, "upload_id")
            if not rows:
                return [], False
            upload_id = as_uuid(rows[0]["upload_id"])
            return await _completed_event(upload_id, document_id, finish.page_count), False
        doc = await held(document_id, owner).get_or_none()
        if doc is None:
            return [], False
        if finish.error_code is None:
            return await complete(doc, finish.page_count), False
        if finish.retriable and doc.attempts < settings.max_attempts:
            await Document.filter(id=doc.id).update(
                status=Status.PENDING,
                page_count=doc.page_count if finish.page_count is None else finish.page_count,
                lease_owner=None,
                lease_expires=None,
                error_code=finish.error_code,
                error_message=without_paths(finish.error_message or ""),
            )
            await touch_upload(upload_id_of(doc))
            return [], True
        if finish.page_count is not None:
            doc.page_count = finish.page_count
        code = ErrorCode(finish.error_code)
        return await fail(doc, code, finish.error_message or code.value), False


async def complete(doc: Document, page_count: int | None) -> Events:
    """Mark the document COMPLETED (the caller holds it) and return its DOCUMENT_DONE."""
    count = page_count if page_count is not None else await document_progress(doc.id)
    await Document.filter(id=doc.id).update(**_completed(count))
    return await _completed_event(upload_id_of(doc), doc.id, count)


def _completed(page_count: int) -> dict[str, Any]:
    return {
        "status": Status.COMPLETED,
        "page_count": page_count,
        "error_code": None,
        "error_message": None,
        "lease_owner": None,
        "lease_expires": None,
        "finished_at": now(),
    }


async def _completed_event(upload_id: UUID, document_id: UUID, page_count: int) -> Events:
    event = await append_event(
        upload_id,
        EventKind.DOCUMENT_DONE,
        counting=document_id,
        document_id=str(document_id),
        document_status=Status.COMPLETED.value,
        page_count=page_count,
    )
    return [event]


async def fail(doc: Document, code: ErrorCode, message: str) -> Events:
    """Mark the document FAILED (the caller holds it) and return its DOCUMENT_FAILED."""
    await Document.filter(id=doc.id).update(
        status=Status.FAILED,
        page_count=doc.page_count,
        error_code=code,
        error_message=without_paths(message),
        lease_owner=None,
        lease_expires=None,
        finished_at=now(),
    )
    event = await append_event(
        upload_id_of(doc),
        EventKind.DOCUMENT_FAILED,
        counting=doc.id,
        document_id=str(doc.id),
        document_status=Status.FAILED.value,
        page_count=doc.page_count,
        error_code=code.value,
    )
    return [event]


async def release(document_id: UUID, owner: str) -> bool:
    """Give a document back untouched (worker shutting down): PENDING, attempt not counted."""
    async with in_transaction():
        released = await held(document_id, owner).update(
            status=Status.PENDING,
            lease_owner=None,
            lease_expires=None,
            attempts=F("attempts") - 1,
        )
        if released:
            await touch_documents([document_id])
    return released == 1
