"""A finished page: recorded under the document's lease, then announced; and the PDF rendition."""

from __future__ import annotations

from uuid import UUID

from tortoise.transactions import in_transaction

from models.changes import touch_upload
from models.events import append_event
from models.returning import insert_page
from models.upload import Document, EventKind, Page, Status
from settings import Settings
from tasks.engine.pages import PageResult
from tasks.service import documents
from tasks.service.notify import publish


async def keep_page(
    document_id: UUID,
    owner: str,
    settings: Settings,
    *,
    upload_id: UUID,
    page_count: int | None,
    page: PageResult,
    path: str,
    count_learnt: bool = False,
) -> bool:
    """Record and announce one page on disk (at the storage-relative `path`); False when the
    document is no longer ours (cancelled, or taken over), and nothing was recorded.
    `count_learnt`: the document's `page_count` is recorded with the page."""
    try:
        events = await record_page(
            document_id, owner, settings, upload_id=upload_id, page_count=page_count,
            page=page, path=path, count_learnt=count_learnt,
        )  # fmt: skip
    except documents.LeaseLost:
        return False
    await publish(upload_id, events)
    return True


async def record_page(
    document_id: UUID,
    owner: str,
    settings: Settings,
    *,
    upload_id: UUID,
    page_count: int | None,
    page: PageResult,
    path: str,
    count_learnt: bool = False,
) -> documents.Events:
    """Store a finished page and its PAGE_DONE event; raises LeaseLost if no longer ours.
    The caller, which holds the lease, says the document's upload and page count, and
    whether that count is to be recorded with the page."""
    learnt = {"page_count": page_count} if count_learnt else {}
    async with in_transaction():
        # The conditional update locks the row, so a concurrent cancel waits for this commit.
        kept = await documents.held(document_id, owner).update(
            lease_expires=documents.lease_until(settings), **learnt
        )
        if not kept:
            raise documents.LeaseLost(str(document_id))
        return await store_page(
            document_id, upload_id=upload_id, page_count=page_count, page=page, path=path
        )


async def store_page(
    document_id: UUID, *, upload_id: UUID, page_count: int | None, page: PageResult, path: str
) -> documents.Events:
    """The page row and its PAGE_DONE event (none if already recorded); call inside the
    transaction that checked the lease."""
    number, width, height, size_bytes = page.number, page.width, page.height, page.size_bytes
    row = Page(
        document_id=document_id,
        number=number,
        width=width,
        height=height,
        path=path,
        size_bytes=size_bytes,
    )
    if not await insert_page(row):
        return []
    event = await append_event(
        upload_id,
        EventKind.PAGE_DONE,
        counting=document_id,
        document_id=str(document_id),
        document_status=Status.IN_PROGRESS.value,
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


async def keep_rendition(document_id: UUID, upload_id: UUID, key: str) -> None:
    """Record an office document's stored PDF rendition (no event announces it)."""
    async with in_transaction():
        await Document.filter(id=document_id).update(pdf_path=key)
        await touch_upload(upload_id)
