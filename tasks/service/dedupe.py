"""Dedupe: content converted recently with the same settings is linked, not converted again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.changes import touch_upload
from models.upload import Document, Page, Status
from settings import Settings
from tasks.engine.pages import PageResult
from tasks.sandbox.runner import ConversionOutcome
from tasks.service import documents
from tasks.service.enqueue import pending_grace
from tasks.service.pages import keep_page
from tasks.storage import ObjectStore, keys, open_storage

logger = logging.getLogger(__name__)

Kick = Callable[[list[UUID]], Awaitable[None]]
# How often a document waiting for an identical one still converting looks again.
WAIT_SECONDS = 0.5
_waiting: set[asyncio.Task[None]] = set()


def fingerprint(settings: Settings) -> str:
    """The conversion settings that decide a page's bytes, as one comparable string."""
    return (
        f"side={settings.max_side};dpi={settings.max_density};"
        f"zlib={settings.png_compression_level};filter={settings.png_filter};"
        f"pdf={settings.pdf_engine};pdf_filter={settings.pdf_png_filter}"
    )


def _same_content(doc: Document, settings: Settings) -> Q:
    # Documents without a fingerprint were never offered for dedupe (e.g. made before it).
    return Q(sha256=doc.sha256, settings_fingerprint=fingerprint(settings)) & ~Q(id=doc.id)


def _earlier(doc: Document) -> Q:
    # (created_at, id) orders documents totally, so of two identical ones exactly one waits.
    return Q(created_at__lt=doc.created_at) | Q(created_at=doc.created_at, id__lt=doc.id)


async def completed_source(doc: Document, settings: Settings) -> Document | None:
    """The latest identical document completed within the dedupe window, if any."""
    if doc.settings_fingerprint is None or not doc.sha256:
        return None
    since = documents.now() - timedelta(seconds=settings.dedupe_window)
    return (
        await Document.filter(
            _same_content(doc, settings), status=Status.COMPLETED, finished_at__gte=since
        )
        .order_by("-finished_at")
        .first()
    )


@dataclass(frozen=True)
class Plan:
    """What dedupe says of a dequeued document: wait for `source`, an identical one still
    converting (deferred), or go on, linking an identical completed one's pages if there
    may be one (identical)."""

    deferred: bool
    identical: bool
    source: UUID | None = None


async def wait_for_source(doc: Document | None, settings: Settings, kick: Kick) -> Plan:
    """Defer a PENDING document (as just read; None: there is none) while an identical earlier
    one converts."""
    if doc is not None and doc.status != Status.PENDING:
        doc = None
    if doc is None or doc.settings_fingerprint is None or not doc.sha256:
        return Plan(deferred=False, identical=doc is not None)
    since = documents.now() - timedelta(seconds=settings.dedupe_window)
    # One query for both questions: most documents have no identical content at all.
    candidates = (
        await Document.filter(_same_content(doc, settings))
        .filter(
            Q(status=Status.COMPLETED, finished_at__gte=since)
            | (Q(status__in=(Status.PENDING, Status.IN_PROGRESS)) & _earlier(doc))
        )
        .order_by("created_at", "id")
        .only("id", "status")
    )
    if not candidates:
        return Plan(deferred=False, identical=False)
    if any(c.status == Status.COMPLETED for c in candidates):
        # Once one identical document is done, the others link its pages right away
        # instead of queueing behind each other.
        return Plan(deferred=False, identical=True)
    source = candidates[0]
    # Left PENDING and queued again shortly from here; the sweeper only steps in after the
    # usual grace (if this process goes away), or every waiting document would be queued
    # once more on each sweep while the queue is long.
    until = documents.now() + timedelta(seconds=pending_grace(settings))
    await Document.filter(id=doc.id, status=Status.PENDING).update(lease_expires=until)
    logger.info("document %s waits for identical document %s", doc.id, source.id)
    task = asyncio.create_task(_kick_later(doc.id, kick))
    _waiting.add(task)
    task.add_done_callback(_waiting.discard)
    return Plan(deferred=True, identical=True, source=UUID(str(source.id)))


async def _kick_later(document_id: UUID, kick: Kick) -> None:
    await asyncio.sleep(WAIT_SECONDS)
    try:
        await kick([document_id])
    except Exception:
        logger.warning("re-queueing waiting document %s failed", document_id, exc_info=True)


async def claim_fingerprint(doc: Document, settings: Settings) -> None:
    """A started document's pages are made with this worker's settings: they are what later
    matches compare with."""
    mine = fingerprint(settings)
    if doc.settings_fingerprint is not None and doc.settings_fingerprint != mine:
        await Document.filter(id=doc.id).update(settings_fingerprint=mine)
        doc.settings_fingerprint = mine


async def reuse(
    doc: Document, owner: str, settings: Settings
) -> tuple[bool, ConversionOutcome | None]:
    """Give a started document the pages of an identical completed one.

    Returns (handled, finish): handled False means convert as usual; a None finish means the
    document stopped being ours (cancelled) while its pages were being linked.
    """
    source = await completed_source(doc, settings)
    if source is None:
        return False, None
    pages = await Page.filter(document_id=source.id).order_by("number")
    if len(pages) != source.page_count:
        return False, None
    storage = open_storage(settings)
    try:
        return True, await _link_pages(doc, source, pages, owner, settings, storage)
    except FileNotFoundError:
        logger.warning("pages of %s are gone; converting %s instead", source.id, doc.id)
        return False, None


async def _link_pages(
    doc: Document,
    source: Document,
    pages: list[Page],
    owner: str,
    settings: Settings,
    storage: ObjectStore,
) -> ConversionOutcome | None:
    upload_id = documents.upload_id_of(doc)
    targets = [keys.page_key(upload_id, doc.id, page.number) for page in pages]
    # Every file first (server-side copies in a bucket, hard links on a local volume): a
    # source page gone missing leaves nothing recorded to undo.
    for page, target in zip(pages, targets, strict=True):
        await storage.copy(page.path, target)
    pdf_path = None
    if source.pdf_path:  # an office document's PDF rendition is shared the same way
        pdf_path = keys.document_prefix(upload_id, doc.id) + PurePosixPath(source.pdf_path).name
        await storage.copy(source.pdf_path, pdf_path)
    async with in_transaction():
        await Document.filter(id=doc.id).update(deduplicated_from=source.id, pdf_path=pdf_path)
        await touch_upload(upload_id)
    await documents.set_page_count(doc.id, owner, len(pages))
    for page, target in zip(pages, targets, strict=True):
        result = PageResult(page.number, page.width, page.height, Path(target), page.size_bytes)
        kept = await keep_page(
            doc.id, owner, settings, upload_id=upload_id, page_count=len(pages), page=result,
            path=target,
        )  # fmt: skip
        if not kept:
            return None
    logger.info("document %s reuses %d pages of %s", doc.id, len(pages), source.id)
    return ConversionOutcome(len(pages), None, None, retriable=False)
