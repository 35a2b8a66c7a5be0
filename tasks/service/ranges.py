"""Page ranges of a big PDF: each converted by its own task under its own lease; the document
finishes when its last range does, decided under the document's row lock."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.changes import touch_documents
from models.upload import TERMINAL, Document, DocumentRange, ErrorCode, Status
from settings import Settings
from tasks import queue
from tasks.engine.pages import PageResult
from tasks.sandbox.runner import ConversionOutcome
from tasks.service import documents, pages
from tasks.service.documents import ACTIVE, RANGED, Events, LeaseLost, now
from tasks.service.enqueue import pending_grace


def plan(count: int, settings: Settings) -> list[tuple[int, int]]:
    """The ranges of a document of `count` pages; one (1, count) when it is not split."""
    first_last = min(count, settings.range_threshold)
    if settings.range_pages < 1 or count <= settings.range_threshold:
        return [(1, count)]
    step = settings.range_pages
    return [(1, first_last)] + [
        (start, min(start + step - 1, count)) for start in range(first_last + 1, count + 1, step)
    ]


async def split(document_id: UUID, owner: str, count: int, settings: Settings) -> list[UUID]:
    """Create the document's ranges once (the first stays with the document's task, which
    holds the document's lease); returns the ranges to queue."""
    spans = plan(count, settings)
    if len(spans) < 2:
        return []
    until = now() + timedelta(seconds=pending_grace(settings))
    async with in_transaction():
        doc = await _locked(document_id, Q(lease_owner=owner, status=Status.IN_PROGRESS))
        if doc is None or await DocumentRange.exists(document_id=document_id):
            return []
        await DocumentRange.create(
            document_id=document_id, first_page=1, last_page=spans[0][1],
            status=Status.IN_PROGRESS, lease_owner=owner,
        )  # fmt: skip
        rest = [
            DocumentRange(document_id=document_id, first_page=a, last_page=b, lease_expires=until)
            for a, b in spans[1:]
        ]
        await DocumentRange.bulk_create(rest)
    return [part.id for part in rest]


async def kick(document_id: UUID, range_ids: list[UUID]) -> None:
    """Send one convert message per range of a document."""
    for range_id in range_ids:
        await queue.send(queue.CONVERT_RANGE, str(range_id), str(document_id))


async def _locked(document_id: UUID, condition: Q) -> Document | None:
    # Every range transition locks the document row first (then its range, then the upload):
    # the order cancel_upload takes them in.
    rows = await Document.filter(condition, id=document_id).select_for_update()
    return rows[0] if rows else None


async def _locked_for(range_id: UUID) -> Document | None:
    """The active document of a range, locked; None when there is none."""
    rows = await DocumentRange.filter(id=range_id).values_list("document_id", flat=True)
    return await _locked(UUID(str(rows[0])), Q(status__in=ACTIVE)) if rows else None


def _lease_until(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.lease_seconds)


async def start_range(
    range_id: UUID, owner: str, settings: Settings
) -> tuple[DocumentRange | None, Document | None, Events]:
    """Take a range's lease; (None, None, events) when it is not ours to convert."""
    async with in_transaction():
        doc = await _locked_for(range_id)
        if doc is None:
            await DocumentRange.filter(id=range_id, status__in=ACTIVE).update(
                status=Status.CANCELLED, lease_owner=None, lease_expires=None
            )
            return None, None, []
        taken = await DocumentRange.filter(
            Q(status=Status.PENDING) | Q(status=Status.IN_PROGRESS, lease_expires__lt=now()),
            id=range_id,
        ).update(
            status=Status.IN_PROGRESS,
            lease_owner=owner,
            lease_expires=now() + _lease_until(settings),
            attempts=F("attempts") + 1,
        )
        if not taken:
            return None, None, []
        part = await DocumentRange.get(id=range_id)
        if part.attempts > settings.max_attempts:
            lost = f"pages {part.first_page}-{part.last_page} did not finish after "
            await _end(range_id, ErrorCode.WORKER_CRASHED, lost + f"{part.attempts - 1} attempts")
            return None, None, await _settle(doc)
        return part, doc, []


async def held(range_id: UUID, owner: str, settings: Settings, *, renew: bool) -> bool:
    """Whether the range is still ours and its document active (renewing when asked)."""
    ours = DocumentRange.filter(
        id=range_id, lease_owner=owner, status=Status.IN_PROGRESS, document__status__in=ACTIVE
    )
    if not renew:
        return await ours.exists()
    if not await ours.exists():
        return False
    renewed = await DocumentRange.filter(
        id=range_id, lease_owner=owner, status=Status.IN_PROGRESS
    ).update(lease_expires=now() + _lease_until(settings))
    return renewed == 1


async def record_page(
    part: DocumentRange, owner: str, settings: Settings, *, upload_id: UUID,
    page_count: int | None, page: PageResult, path: str,
) -> Events:  # fmt: skip
    """Store a page of the range and its PAGE_DONE event; LeaseLost when no longer ours."""
    document_id = UUID(str(part.document_id))
    async with in_transaction():
        if await _locked(document_id, Q(status__in=ACTIVE)) is None:
            raise LeaseLost(str(document_id))
        kept = await DocumentRange.filter(
            id=part.id, lease_owner=owner, status=Status.IN_PROGRESS
        ).update(lease_expires=now() + _lease_until(settings))
        if not kept:
            raise LeaseLost(str(part.id))
        return await pages.store_page(
            document_id, upload_id=upload_id, page_count=page_count, page=page, path=path
        )


async def finish_range(
    range_id: UUID, owner: str, finish: ConversionOutcome, settings: Settings
) -> tuple[Events, bool]:
    """Record how a range's run ended; (events, retry). The events finish the document when
    this was its last open range."""
    async with in_transaction():
        doc = await _locked_for(range_id)
        part = await DocumentRange.get_or_none(
            id=range_id, lease_owner=owner, status=Status.IN_PROGRESS
        )
        if part is None or doc is None:
            return [], False
        if finish.retriable and part.attempts < settings.max_attempts:
            until = now() + timedelta(seconds=pending_grace(settings))
            await DocumentRange.filter(id=range_id).update(
                status=Status.PENDING, lease_owner=None, lease_expires=until
            )
            return [], True
        code = ErrorCode(finish.error_code) if finish.error_code else None
        await _end(range_id, code, finish.error_message)
        return await _settle(doc), False


async def finish_first(
    document_id: UUID, owner: str, finish: ConversionOutcome, settings: Settings
) -> Events | None:
    """End the first range, which the document's own task converts, and hand the document to
    its ranges. None when the document has no ranges, or its task is to retry as a whole."""
    if finish.retriable and finish.error_code is not None:
        doc = await Document.get_or_none(id=document_id).only("id", "attempts")
        if doc is not None and doc.attempts < settings.max_attempts:
            return None
    async with in_transaction():
        doc = await _locked(document_id, Q(lease_owner=owner, status=Status.IN_PROGRESS))
        first = await DocumentRange.get_or_none(document_id=document_id, first_page=1)
        if doc is None or first is None:
            return None
        code = ErrorCode(finish.error_code) if finish.error_code else None
        await _end(first.id, code, finish.error_message)
        if finish.page_count is not None:
            doc.page_count = finish.page_count
        await Document.filter(id=document_id).update(
            lease_owner=RANGED, lease_expires=None, page_count=doc.page_count
        )
        await touch_documents([document_id])
        return await _settle(doc)


async def _end(range_id: UUID, code: ErrorCode | None, message: str | None) -> None:
    await DocumentRange.filter(id=range_id).update(
        status=Status.COMPLETED if code is None else Status.FAILED,
        error_code=code,
        error_message=message if code is not None else None,
        lease_owner=None,
        lease_expires=None,
        finished_at=now(),
    )


async def _settle(doc: Document) -> Events:
    # Under the document's row lock: of two ranges ending together, the second to take the
    # lock sees both ended, and the first saw one still open. So the document ends once.
    rows = await (
        DocumentRange.filter(document_id=doc.id)
        .order_by("first_page")
        .values("status", "error_code", "error_message")
    )
    if any(Status(str(row["status"])) not in TERMINAL for row in rows):
        return []
    failed = [row for row in rows if Status(str(row["status"])) != Status.COMPLETED]
    if not failed:
        return await documents.complete(doc, doc.page_count)
    code = ErrorCode(str(failed[0]["error_code"] or ErrorCode.INTERNAL.value))
    return await documents.fail(doc, code, str(failed[0]["error_message"] or code.value))


async def release(range_id: UUID, owner: str) -> bool:
    """Give a range back untouched (worker shutting down): PENDING, attempt not counted."""
    released = await DocumentRange.filter(
        id=range_id, lease_owner=owner, status=Status.IN_PROGRESS
    ).update(
        status=Status.PENDING, lease_owner=None, lease_expires=now(), attempts=F("attempts") - 1
    )
    return released == 1
