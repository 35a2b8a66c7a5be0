"""One conversion under a document's lease: the sandboxed run, its pages recorded as they
land, and a watch that stops it when the document is cancelled or taken over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from models.upload import Document, ErrorCode, Status
from settings import Settings
from tasks.broker import broker, is_embedded
from tasks.engine.errors import RETRIABLE, ConversionError
from tasks.engine.kinds import OFFICE_KINDS
from tasks.engine.pages import PageResult
from tasks.sandbox import office_pool
from tasks.sandbox.runner import ConversionJob, ConversionOutcome, run_conversion
from tasks.service import documents
from tasks.service.pages import keep_page
from tasks.storage import ObjectStore, StorageUnavailable, keys

logger = logging.getLogger(__name__)

WATCH_SECONDS = 1.0  # how soon a cancel or a lost lease stops a running conversion


async def supervised(
    job: ConversionJob,
    document_id: UUID,
    upload_id: UUID,
    owner: str,
    settings: Settings,
    storage: ObjectStore,
) -> ConversionOutcome | None:
    """Runs the job while the lease is ours; None when it stopped being ours."""
    lost = asyncio.Event()
    counted: list[int] = []

    async def on_count(count: int) -> None:
        counted.append(count)
        await documents.set_page_count(document_id, owner, count)

    async def on_page(page: PageResult) -> None:
        page_count = counted[-1] if counted else None
        # Stored under its final key before it is recorded: a recorded page is always there.
        path = keys.page_key(upload_id, document_id, page.number)
        await storage.store_file(path, page.path)
        kept = await keep_page(
            document_id, owner, settings, upload_id=upload_id, page_count=page_count,
            page=page, path=path,
        )  # fmt: skip
        if not kept:
            lost.set()
            run.cancel()  # delivered at the runner's next await; it kills the child

    run = asyncio.create_task(run_job(job, settings=settings, on_count=on_count, on_page=on_page))
    watch = asyncio.create_task(_watch(document_id, owner, settings, run, lost))
    try:
        return await run
    except asyncio.CancelledError:
        if not lost.is_set():
            raise
        logger.info("document %s stopped: cancelled or taken over", document_id)
        return None
    except StorageUnavailable:
        raise
    except Exception as exc:
        logger.exception("conversion of document %s crashed", document_id)
        return ConversionOutcome(None, ErrorCode.INTERNAL.value, str(exc), retriable=False)
    finally:
        watch.cancel()


async def run_job(
    job: ConversionJob,
    *,
    settings: Settings,
    on_count: Callable[[int], Awaitable[None]],
    on_page: Callable[[PageResult], Awaitable[None]],
    pool: office_pool.OfficePool | None = None,
) -> ConversionOutcome:
    """Converts one document; an office document first becomes its PDF rendition."""
    if job.kind in OFFICE_KINDS:
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
            held = await documents.renew_lease(document_id, owner, settings)
            renew_at = loop.time() + settings.lease_seconds / 3
        else:
            held = await Document.exists(
                id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
            )
        if not held:
            lost.set()
            run.cancel()
            return
