"""Leases and state transitions of one document; each commits and returns the events to publish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.changes import touch_documents, touch_upload
from models.progress import append_event, document_progress
from models.upload import Document, ErrorCode, EventKind, Page, Status, Upload
from settings import Settings
from tasks.engine.errors import without_paths
from tasks.engine.pages import PageResult
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


def _lease_until(settings: Settings) -> datetime:
    return now() + timedelta(seconds=settings.lease_seconds)


async def start_document(
    document_id: UUID, owner: str, settings: Settings
) -> tuple[Document | None, Events]:
    """Take the document's lease and mark it started; None if someone else holds it."""
    async with in_transaction():
        taken = await Document.filter(
            Q(status=Status.PENDING)
            | Q(status=Status.IN_PROGRESS, lease_expires__lt=now())
            | Q(status=Status.IN_PROGRESS, lease_expires__isnull=True, lease_owner__isnull=True)
            | Q(status=Status.IN_PROGRESS, lease_expires__isnull=True, lease_owner__not=RANGED),
            id=document_id,
        ).update(
            status=Status.IN_PROGRESS,
            lease_owner=owner,
            lease_expires=_lease_until(settings),
            attempts=F("attempts") + 1,
        )
        if not taken:
            return None, []
        doc = await Document.get(id=document_id)
        if doc.attempts > settings.max_attempts:
            # Its earlier runs took their worker down with them (no outcome was recorded).
            return None, await fail(doc, ErrorCode.WORKER_CRASHED, _crash_message(doc))
        await Document.filter(id=document_id, started_at__isnull=True).update(started_at=now())
        await Upload.filter(id=doc.upload_id, status=Status.PENDING).update(
            status=Status.IN_PROGRESS
        )
        event = await append_event(
            upload_id_of(doc),
            EventKind.DOCUMENT_STARTED,
            document_id=str(doc.id),
            document_status=Status.IN_PROGRESS.value,
            pages_done=await document_progress(doc.id),
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
    renewed = await Document.filter(
        id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
    ).update(lease_expires=_lease_until(settings))
    return renewed == 1


async def set_page_count(document_id: UUID, owner: str, count: int) -> None:
    """Record the page count once the conversion knows it."""
    async with in_transaction():
        held = Document.filter(id=document_id, lease_owner=owner, status=Status.IN_PROGRESS)
        if await held.update(page_count=count):
            await touch_documents([document_id])


async def record_page(
    document_id: UUID,
    owner: str,
    settings: Settings,
    *,
    upload_id: UUID,
    page_count: int | None,
    page: PageResult,
    path: str,
) -> Events:
    """Store a finished page and its PAGE_DONE event; raises LeaseLost if no longer ours.
    The caller, which holds the lease, says the document's upload and page count."""
    async with in_transaction():
        # The conditional update locks the row, so a concurrent cancel waits for this commit.
        held = await Document.filter(
            id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
        ).update(lease_expires=_lease_until(settings))
        if not held:
            raise LeaseLost(str(document_id))
        return await store_page(
            document_id, upload_id=upload_id, page_count=page_count, page=page, path=path
        )


async def store_page(
    document_id: UUID, *, upload_id: UUID, page_count: int | None, page: PageResult, path: str
) -> Events:
    """The page row and its PAGE_DONE event (none if already recorded); call inside the
    transaction that checked the lease."""
    number, width, height, size_bytes = page.number, page.width, page.height, page.size_bytes
    if await Page.exists(document_id=document_id, number=number):
        return []
    row = await Page.create(
        document_id=document_id,
        number=number,
        width=width,
        height=height,
        path=path,
        size_bytes=size_bytes,
    )
    event = await append_event(
        upload_id,
        EventKind.PAGE_DONE,
        document_id=str(document_id),
        document_status=Status.IN_PROGRESS.value,
        pages_done=await document_progress(document_id),
        page_count=page_count,
        page={
            "id": str(row.id),
            "number": number,
            "width": width,
            "height": height,
            "path": path,
            "size_bytes": size_bytes,
        },
    )
    return [event]


async def finish_document(
    document_id: UUID, owner: str, finish: ConversionOutcome, settings: Settings
) -> tuple[Events, bool]:
    """Record how a run ended. Returns (events, retry): retry means PENDING again."""
    async with in_transaction():
        doc = await Document.get_or_none(
            id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
        )
        if doc is None:
            return [], False
        if finish.error_code is None:
            return await complete(doc, finish.page_count), False
        if finish.retriable and doc.attempts < settings.max_attempts:
            await Document.filter(id=doc.id).update(
                status=Status.PENDING,
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
    pages_done = await document_progress(doc.id)
    count = page_count if page_count is not None else pages_done
    await Document.filter(id=doc.id).update(
        status=Status.COMPLETED,
        page_count=count,
        error_code=None,
        error_message=None,
        lease_owner=None,
        lease_expires=None,
        finished_at=now(),
    )
    event = await append_event(
        upload_id_of(doc),
        EventKind.DOCUMENT_DONE,
        document_id=str(doc.id),
        document_status=Status.COMPLETED.value,
        pages_done=pages_done,
        page_count=count,
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
        document_id=str(doc.id),
        document_status=Status.FAILED.value,
        pages_done=await document_progress(doc.id),
        page_count=doc.page_count,
        error_code=code.value,
    )
    return [event]


async def release(document_id: UUID, owner: str) -> bool:
    """Give a document back untouched (worker shutting down): PENDING, attempt not counted."""
    async with in_transaction():
        released = await Document.filter(
            id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
        ).update(
            status=Status.PENDING,
            lease_owner=None,
            lease_expires=None,
            attempts=F("attempts") - 1,
        )
        if released:
            await touch_documents([document_id])
    return released == 1
