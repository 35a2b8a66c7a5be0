"""The taskiq tasks: convert one document, archive one upload; and how the API enqueues them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from models.storage import LocalStorage
from models.upload import Document, ErrorCode, Page, Status
from settings import Settings, get_settings
from tasks import control, dedupe, logs, office, office_pool, pipeline
from tasks.broker import broker, is_embedded
from tasks.engine import ConversionError, PageResult
from tasks.events import get_bus
from tasks.runner import RETRIABLE, ConversionJob, ConversionOutcome, run_conversion

logger = logging.getLogger(__name__)

WORKER_ID = control.new_worker_id()
WATCH_SECONDS = 1.0  # how soon a cancel or a lost lease stops a running conversion


class Activity:
    """What this process is converting right now (read by heartbeats and the drain)."""

    running: dict[asyncio.Task[Any], UUID] = {}
    conversions_done = 0
    slots: asyncio.Semaphore | None = None


@broker.task(task_name="documents.convert")
async def convert_document(document_id: str) -> None:
    """Convert one document (idempotent: a duplicate delivery finds the lease taken)."""
    settings = get_settings()
    async with _slot(settings):
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 (always inside a task here)
        Activity.running[task] = UUID(document_id)
        try:
            await process_document(UUID(document_id), settings)
        finally:
            Activity.running.pop(task, None)


@broker.task(task_name="uploads.archive")
async def archive_upload(upload_id: str) -> None:
    """Build the zip of all pages of an upload, with its manifest.json."""
    settings = get_settings()
    await pipeline.build_archive(UUID(upload_id), LocalStorage(settings.storage_dir))


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
        await Document.filter(id__in=ids, status=Status.PENDING).update(
            lease_expires=pipeline.now()
        )


async def mark_enqueued(ids: list[UUID], settings: Settings) -> None:
    """Note when documents were queued, so the sweeper leaves them alone for a while."""
    until = pipeline.now() + timedelta(seconds=pending_grace(settings))
    await Document.filter(id__in=ids, status=Status.PENDING).update(lease_expires=until)


async def kick(ids: list[UUID]) -> None:
    """Send one convert message per document."""
    for document_id in ids:
        await convert_document.kiq(str(document_id))


def pending_grace(settings: Settings) -> float:
    """How long a queued document may wait before the sweeper queues it again."""
    return max(60.0, 4 * settings.lease_seconds)


@asynccontextmanager
async def _slot(settings: Settings) -> AsyncIterator[None]:
    # In-memory tasks bypass taskiq's receiver limit: bound them here. Workers run one
    # message at a time per process (--max-async-tasks 1), so no bound is needed there.
    if not is_embedded(broker):
        yield
        return
    if Activity.slots is None:
        Activity.slots = asyncio.Semaphore(settings.embedded_concurrency)
    async with Activity.slots:
        yield


async def publish(upload_id: UUID, events: list[dict[str, Any]]) -> None:
    """Announce committed events (never before the commit)."""
    bus = get_bus(get_settings())
    for event in events:
        try:
            await bus.publish(upload_id, event)
        except Exception:
            # State is committed; a subscriber catches up from the event log on reconnect.
            logger.exception("publishing %s for upload %s failed", event.get("kind"), upload_id)


async def process_document(document_id: UUID, settings: Settings) -> None:
    """Lease, convert, record and finish one document, then roll its upload up."""
    if await control.is_paused():
        # Left PENDING and due: the first sweep after resuming queues it again.
        await Document.filter(id=document_id, status=Status.PENDING).update(
            lease_expires=pipeline.now()
        )
        logger.info("processing paused: document %s stays pending", document_id)
        return
    plan = await dedupe.wait_for_source(document_id, settings, kick)
    if plan.deferred:
        return
    owner = f"{WORKER_ID}:{uuid.uuid4().hex[:8]}"
    doc, events = await pipeline.start_document(document_id, owner, settings)
    if doc is None:
        if events:  # failed for good: too many lost runs
            upload_id = UUID(events[0]["upload_id"])
            await publish(upload_id, events)
            await finish_upload(upload_id)
        else:
            logger.info("document %s is held elsewhere or finished; nothing to do", document_id)
        return
    upload_id = pipeline.upload_id_of(doc)
    logs.bind(upload_id=upload_id, document_id=document_id)
    await publish(upload_id, events)
    logger.info("converting upload=%s document=%s attempt=%d", upload_id, doc.id, doc.attempts)
    try:
        finish = await _run(doc, owner, settings, identical=plan.identical)
    except asyncio.CancelledError:
        # This worker is stopping: hand the document back without counting the attempt.
        await asyncio.shield(_give_back(document_id, owner))
        raise
    if finish is None:  # cancelled by a user, or taken over after our lease expired
        await finish_upload(upload_id)
        return
    events, retry = await pipeline.finish_document(document_id, owner, finish, settings)
    await publish(upload_id, events)
    Activity.conversions_done += 1
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
    if await pipeline.release(document_id, owner):
        logger.info("document %s handed back for another worker", document_id)
        try:
            await kick([document_id])
        except Exception:
            logger.warning("re-queueing %s failed; the sweeper will", document_id, exc_info=True)


async def finish_upload(upload_id: UUID) -> None:
    """Roll the upload up; once it is terminal, queue its archive."""
    events = await pipeline.roll_up(upload_id)
    await publish(upload_id, events)
    if events:
        await archive_upload.kiq(str(upload_id))


async def _run(
    doc: Document, owner: str, settings: Settings, *, identical: bool
) -> pipeline.Finish | None:
    await dedupe.claim_fingerprint(doc, settings)
    if identical:  # else no identical content was there to link when it was dequeued
        handled, reused = await dedupe.reuse(doc, owner, settings, publish)
        if handled:
            return reused
    storage = LocalStorage(settings.storage_dir)
    upload_id = pipeline.upload_id_of(doc)
    source = _original(storage, doc.original_path)
    if source is None:
        return _failed(ErrorCode.INTERNAL, "the stored original file is missing")
    kind = _kind(source)
    if kind is None:
        return _failed(ErrorCode.UNSUPPORTED_FORMAT, "not a PDF, image or office document")
    done = [int(row["number"]) for row in await Page.filter(document_id=doc.id).values("number")]
    job = ConversionJob(
        source=source,
        kind=kind,
        pages_dir=storage.pages_dir(upload_id, doc.id),
        done_pages=sorted(done),
    )
    finish = await _supervised(job, doc.id, upload_id, owner, settings, storage)
    rendition = office.rendition_path(job.pages_dir)
    if kind in office.OFFICE_KINDS and rendition.is_file():
        await Document.filter(id=doc.id).update(pdf_path=storage.relative(rendition))
    return finish


async def _supervised(
    job: ConversionJob,
    document_id: UUID,
    upload_id: UUID,
    owner: str,
    settings: Settings,
    storage: LocalStorage,
) -> pipeline.Finish | None:
    lost = asyncio.Event()
    counted: list[int] = []

    async def on_count(count: int) -> None:
        counted.append(count)
        await pipeline.set_page_count(document_id, owner, count)

    async def on_page(page: PageResult) -> None:
        try:
            events = await pipeline.record_page(
                document_id,
                owner,
                settings,
                upload_id=upload_id,
                page_count=counted[-1] if counted else None,
                number=page.number,
                width=page.width,
                height=page.height,
                path=storage.relative(page.path),
                size_bytes=page.size_bytes,
            )
        except pipeline.LeaseLost:
            lost.set()
            run.cancel()  # delivered at the runner's next await; it kills the child
            return
        await publish(upload_id, events)

    run = asyncio.create_task(run_job(job, settings=settings, on_count=on_count, on_page=on_page))
    watch = asyncio.create_task(_watch(document_id, owner, settings, run, lost))
    try:
        outcome = await run
    except asyncio.CancelledError:
        if not lost.is_set():
            raise
        logger.info("document %s stopped: cancelled or taken over", document_id)
        return None
    except Exception as exc:
        logger.exception("conversion of document %s crashed", document_id)
        return pipeline.Finish(None, ErrorCode.INTERNAL.value, str(exc), retriable=False)
    finally:
        watch.cancel()
    return pipeline.Finish(
        outcome.page_count, outcome.error_code, outcome.error_message, outcome.retriable
    )


async def run_job(
    job: ConversionJob,
    *,
    settings: Settings,
    on_count: Callable[[int], Awaitable[None]],
    on_page: Callable[[PageResult], Awaitable[None]],
    pool: office_pool.OfficePool | None = None,
) -> ConversionOutcome:
    """Converts one document; an office document first becomes its PDF rendition."""
    if job.kind in office.OFFICE_KINDS:
        # One LibreOffice per conversion slot: the embedded API runs several at once.
        slots = settings.embedded_concurrency if is_embedded(broker) else 1
        try:
            job = await office_pool.rendition(job, settings, pool or office_pool.shared_pool(slots))
        except ConversionError as exc:
            return ConversionOutcome(None, exc.code, exc.message, retriable=exc.code in RETRIABLE)
    return await run_conversion(job, settings=settings, on_count=on_count, on_page=on_page)


async def _watch(
    document_id: UUID,
    owner: str,
    settings: Settings,
    run: asyncio.Task[Any],
    lost: asyncio.Event,
) -> None:
    # Polls the row: catches a cancel quickly and renews the lease every third of its length.
    loop = asyncio.get_running_loop()
    renew_at = loop.time() + settings.lease_seconds / 3
    while not run.done():
        await asyncio.sleep(WATCH_SECONDS)
        if loop.time() >= renew_at:
            held = await pipeline.renew_lease(document_id, owner, settings)
            renew_at = loop.time() + settings.lease_seconds / 3
        else:
            held = await Document.exists(
                id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
            )
        if not held:
            lost.set()
            run.cancel()
            return


def _original(storage: LocalStorage, stored: str) -> Path | None:
    path = Path(stored)
    if path.is_absolute():
        return path if path.is_file() else None
    return storage.resolve(stored)


def _failed(code: ErrorCode, message: str) -> pipeline.Finish:
    return pipeline.Finish(None, code.value, message, retriable=False)


def _kind(source: Path) -> str | None:
    kind = office.sniff_path(source)
    return kind if kind in office.CONVERTIBLE else None
