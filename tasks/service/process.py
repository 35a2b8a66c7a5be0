"""One document end to end: lease it, link identical pages or convert, record, finish, roll up."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from uuid import UUID

from models.upload import Document, ErrorCode, Page, Status
from settings import Settings
from tasks import logs
from tasks.engine import office
from tasks.engine.kinds import CONVERTIBLE, OFFICE_KINDS, sniff_path
from tasks.sandbox.runner import ConversionJob, ConversionOutcome
from tasks.service import control, dedupe, documents, ranges
from tasks.service.conversion import DocumentLease, supervised
from tasks.service.enqueue import enqueue_documents, kick
from tasks.service.notify import publish
from tasks.service.pages import keep_rendition
from tasks.service.uploads import finish_upload
from tasks.storage import ObjectStore, StorageUnavailable, keys, open_storage

logger = logging.getLogger(__name__)


async def process_document(
    document_id: UUID, settings: Settings, worker_id: str | None = None
) -> bool:
    """Lease, convert, record and finish one document, then roll its upload up. True when a
    run ended and its outcome was recorded. `worker_id` names this process in the lease."""
    paused, queued = await control.paused_and_document(document_id)
    if paused:
        # Left PENDING and due: the first sweep after resuming queues it again.
        await Document.filter(id=document_id, status=Status.PENDING).update(
            lease_expires=documents.now()
        )
        logger.info("processing paused: document %s stays pending", document_id)
        return False
    plan = await dedupe.wait_for_source(queued, settings, kick)
    if plan.deferred:
        return False
    owner = f"{worker_id or control.new_worker_id()}:{uuid.uuid4().hex[:8]}"
    doc, events = await documents.start_document(document_id, owner, settings)
    if doc is None:
        if events:  # failed for good: too many lost runs
            upload_id = UUID(events[0]["upload_id"])
            await publish(upload_id, events)
            await finish_upload(upload_id)
        else:
            logger.info("document %s is held elsewhere or finished; nothing to do", document_id)
        return False
    upload_id = documents.upload_id_of(doc)
    logs.bind(upload_id=upload_id, document_id=document_id)
    await publish(upload_id, events)
    logger.info("converting upload=%s document=%s attempt=%d", upload_id, doc.id, doc.attempts)
    try:
        # A run before this one may have recorded pages: those are not converted again.
        resumed = bool(events[0]["pages_done"])
        finish = await _run(doc, owner, settings, identical=plan.identical, resumed=resumed)
    except asyncio.CancelledError:
        # This worker is stopping: hand the document back without counting the attempt.
        await asyncio.shield(_give_back(document_id, owner))
        raise
    if finish is None:  # cancelled by a user, or taken over after our lease expired
        await finish_upload(upload_id)
        return False
    await _finish(document_id, upload_id, owner, finish, settings)
    return True


async def _finish(
    document_id: UUID, upload_id: UUID, owner: str, finish: ConversionOutcome, settings: Settings
) -> None:
    handed = None
    if finish.page_count is not None and len(ranges.plan(finish.page_count, settings)) > 1:
        handed = await ranges.finish_first(document_id, owner, finish, settings)
    if handed is not None:  # the document ends with its last range: maybe this one
        await publish(upload_id, handed)
        logger.info("first range of document %s ended: %s", document_id, finish.error_code)
        if handed:
            await finish_upload(upload_id)
        return
    events, retry = await documents.finish_document(document_id, owner, finish, settings)
    await publish(upload_id, events)
    logger.info(
        "finished upload=%s document=%s code=%s retry=%s",
        upload_id,
        document_id,
        finish.error_code,
        retry,
    )
    if retry:
        await enqueue_documents([document_id])
    else:
        await finish_upload(upload_id)


async def _give_back(document_id: UUID, owner: str) -> None:
    if await documents.release(document_id, owner):
        logger.info("document %s handed back for another worker", document_id)
        try:
            await kick([document_id])
        except Exception:
            logger.warning("re-queueing %s failed; the sweeper will", document_id, exc_info=True)


async def _run(
    doc: Document, owner: str, settings: Settings, *, identical: bool, resumed: bool
) -> ConversionOutcome | None:
    await dedupe.claim_fingerprint(doc, settings)
    if identical:  # else no identical content was there to link when it was dequeued
        handled, reused = await dedupe.reuse(doc, owner, settings)
        if handled:
            return reused
    storage = open_storage(settings)
    try:
        async with storage.workspace(documents.upload_id_of(doc), doc.id) as work:
            return await _convert_in(work, doc, owner, settings, storage, resumed)
    except StorageUnavailable as exc:
        # Nothing recorded is missing (pages are recorded after their put): try again later.
        logger.warning("document %s: %s", doc.id, exc)
        return ConversionOutcome(None, ErrorCode.INTERNAL.value, str(exc), retriable=True)


async def _convert_in(
    work: Path, doc: Document, owner: str, settings: Settings, storage: ObjectStore, resumed: bool
) -> ConversionOutcome | None:
    # `work` mirrors the document's keys: original.<ext>, pages/NNNN.png, document.pdf.
    upload_id = documents.upload_id_of(doc)
    try:
        source = await storage.fetch(doc.original_path, work / Path(doc.original_path).name)
    except FileNotFoundError:
        return _failed(ErrorCode.INTERNAL, "the stored original file is missing")
    kind = await asyncio.to_thread(_kind, source)
    if kind is None:
        return _failed(ErrorCode.UNSUPPORTED_FORMAT, "not a PDF, image or office document")
    done = await _recorded(doc.id) if resumed else []
    job = ConversionJob(source=source, kind=kind, pages_dir=work / "pages", done_pages=sorted(done))
    lease = DocumentLease(doc.id, upload_id, owner, settings)

    async def split(count: int) -> None:
        # A big PDF: this task converts the first range, every free worker the others.
        if len(ranges.plan(count, settings)) > 1:
            await lease.write_count()  # the ranges' pages count against it from the start
        await ranges.kick(doc.id, await ranges.split(doc.id, owner, count, settings))

    if kind == "pdf" and settings.range_pages > 0:
        job.last = settings.range_threshold
        finish = await supervised(job, lease, settings, storage, after_count=split)
    else:
        finish = await supervised(job, lease, settings, storage)
    rendition = office.rendition_path(job.pages_dir)
    if finish is not None and kind in OFFICE_KINDS and rendition.is_file():
        key = keys.document_prefix(upload_id, doc.id) + rendition.name
        await storage.store_file(key, rendition)
        await keep_rendition(doc.id, upload_id, key)
    return finish


async def _recorded(document_id: UUID) -> list[int]:
    return [
        int(row["number"]) for row in await Page.filter(document_id=document_id).values("number")
    ]


def _failed(code: ErrorCode, message: str) -> ConversionOutcome:
    return ConversionOutcome(None, code.value, message, retriable=False)


def _kind(source: Path) -> str | None:
    kind = sniff_path(source)
    return kind if kind in CONVERTIBLE else None
