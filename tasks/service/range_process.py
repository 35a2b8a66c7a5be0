"""One page range of a big PDF end to end: lease it, convert its pages not yet recorded,
record them as they land, end the range (and the document, when it was the last)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from models.upload import Document, DocumentRange, ErrorCode, Page, Status
from settings import Settings
from tasks import logs
from tasks.engine.pages import PageResult
from tasks.sandbox.runner import ConversionJob, ConversionOutcome
from tasks.service import control, documents, ranges
from tasks.service.conversion import supervised
from tasks.service.notify import publish
from tasks.service.uploads import finish_upload
from tasks.storage import StorageUnavailable, open_storage

logger = logging.getLogger(__name__)


@dataclass
class RangeLease:
    """A range converted under its own lease while its document is active."""

    part: DocumentRange
    upload_id: UUID
    owner: str
    settings: Settings

    @property
    def document_id(self) -> UUID:
        """The range's document."""
        return UUID(str(self.part.document_id))

    async def held(self, *, renew: bool) -> bool:
        """Still ours (renewing the lease when asked)."""
        return await ranges.held(self.part.id, self.owner, self.settings, renew=renew)

    async def counted(self, count: int) -> None:
        """The document's task recorded the count already."""

    async def keep(self, page: PageResult, path: str, page_count: int | None) -> bool:
        """Record and announce a page under the range's lease."""
        try:
            events = await ranges.record_page(
                self.part, self.owner, self.settings, upload_id=self.upload_id,
                page_count=page_count, page=page, path=path,
            )  # fmt: skip
        except documents.LeaseLost:
            return False
        await publish(self.upload_id, events)
        return True


async def process_range(range_id: UUID, settings: Settings, worker_id: str | None = None) -> bool:
    """Lease, convert and end one range; True when a run ended and its outcome was recorded."""
    if await control.is_paused():
        # Left PENDING and due: the first sweep after resuming queues it again.
        await DocumentRange.filter(id=range_id, status=Status.PENDING).update(
            lease_expires=documents.now()
        )
        return False
    owner = f"{worker_id or control.new_worker_id()}:{uuid.uuid4().hex[:8]}"
    part, doc, events = await ranges.start_range(range_id, owner, settings)
    if part is None or doc is None:
        if events:  # failed for good (too many lost runs), and it was the last open range
            await _ended(UUID(events[0]["upload_id"]), events)
        return False
    upload_id = documents.upload_id_of(doc)
    logs.bind(upload_id=upload_id, document_id=doc.id)
    logger.info(
        "converting upload=%s document=%s pages=%d-%d attempt=%d",
        upload_id, doc.id, part.first_page, part.last_page, part.attempts,
    )  # fmt: skip
    lease = RangeLease(part, upload_id, owner, settings)
    try:
        finish = await _convert(lease, doc, settings)
    except asyncio.CancelledError:
        await asyncio.shield(_give_back(doc.id, range_id, owner))
        raise
    if finish is None:  # cancelled, or taken over after our lease expired
        return False
    events, retry = await ranges.finish_range(range_id, owner, finish, settings)
    logger.info("finished document=%s range=%d code=%s", doc.id, part.first_page, finish.error_code)
    if retry:
        await ranges.kick(doc.id, [range_id])
    elif events:
        await _ended(upload_id, events)
    return True


async def _ended(upload_id: UUID, events: documents.Events) -> None:
    await publish(upload_id, events)
    await finish_upload(upload_id)


async def _give_back(document_id: UUID, range_id: UUID, owner: str) -> None:
    if await ranges.release(range_id, owner):
        try:
            await ranges.kick(document_id, [range_id])
        except Exception:
            logger.warning("re-queueing range %s failed; the sweeper will", range_id, exc_info=True)


async def _convert(
    lease: RangeLease, doc: Document, settings: Settings
) -> ConversionOutcome | None:
    part = lease.part
    recorded = await Page.filter(
        document_id=doc.id, number__gte=part.first_page, number__lte=part.last_page
    ).values("number")
    done = sorted(int(row["number"]) for row in recorded)
    start = next((n for n in range(part.first_page, part.last_page + 1) if n not in done), None)
    if start is None:  # every page was recorded before this run's worker died
        return ConversionOutcome(doc.page_count, None, None)
    storage = open_storage(settings)
    try:
        async with storage.workspace(lease.upload_id, doc.id) as work:
            source = await storage.fetch(doc.original_path, work / Path(doc.original_path).name)
            # Each attempt renders in a folder of its own: ranges may convert side by side.
            job = ConversionJob(
                source, "pdf", work / "pages", done_pages=done, first=start, last=part.last_page
            )
            return await supervised(job, lease, settings, storage)
    except FileNotFoundError:
        return ConversionOutcome(
            None, ErrorCode.INTERNAL.value, "the stored original file is missing", retriable=False
        )
    except StorageUnavailable as exc:
        logger.warning("document %s: %s", doc.id, exc)
        return ConversionOutcome(None, ErrorCode.INTERNAL.value, str(exc), retriable=True)
