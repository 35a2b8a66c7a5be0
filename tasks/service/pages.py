"""A finished page: recorded under the document's lease, then announced; and the PDF rendition."""

from __future__ import annotations

from uuid import UUID

from tortoise.transactions import in_transaction

from models.changes import touch_upload
from models.upload import Document
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
) -> bool:
    """Record and announce one page on disk (at the storage-relative `path`); False when the
    document is no longer ours (cancelled, or taken over), and nothing was recorded."""
    try:
        events = await documents.record_page(
            document_id, owner, settings, upload_id=upload_id, page_count=page_count,
            page=page, path=path,
        )  # fmt: skip
    except documents.LeaseLost:
        return False
    await publish(upload_id, events)
    return True


async def keep_rendition(document_id: UUID, upload_id: UUID, key: str) -> None:
    """Record an office document's stored PDF rendition (no event announces it)."""
    async with in_transaction():
        await Document.filter(id=document_id).update(pdf_path=key)
        await touch_upload(upload_id)
