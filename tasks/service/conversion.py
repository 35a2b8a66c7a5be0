"""One conversion under a document's lease: the sandboxed run, its pages recorded as they
land, and a watch that stops it when the document is cancelled or taken over."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from models.upload import Document, ErrorCode, Status
from settings import Settings
from tasks.dependencies import is_unavailable
from tasks.engine.errors import RETRIABLE, ConversionError
from tasks.engine.kinds import OFFICE_KINDS
from tasks.engine.pages import PageResult
from tasks.sandbox import office_pool
from tasks.sandbox.runner import ConversionJob, ConversionOutcome, LeaseExpired, run_conversion
from tasks.sandbox.slots import get_slots
from tasks.service import documents
from tasks.service.pages import keep_page
from tasks.storage import ObjectStore, StorageUnavailable, keys

logger = logging.getLogger(__name__)

WATCH_SECONDS = 1.0  # how soon a cancel or a lost lease stops a running conversion


class Lease(Protocol):
    """What a conversion runs under: a whole document's lease, or one range's."""

    @property
    def document_id(self) -> UUID:
        """The document converted."""

    @property
    def upload_id(self) -> UUID:
        """The document's upload."""

    async def held(self, *, renew: bool) -> bool:
        """Still ours (renewing the lease when asked); False once cancelled or taken over."""

    async def counted(self, count: int) -> None:
        """The conversion knows the document's page count."""

    async def keep(self, page: PageResult, path: str, page_count: int | None) -> bool:
        """Record and announce a stored page; False when no longer ours."""


@dataclass
class DocumentLease:
    """A whole document converted by one task under the document's own lease."""

    document_id: UUID
    upload_id: UUID
    owner: str
    settings: Settings
    # A page count learnt goes with the next page recorded (whose event shows it), or is
    # written at the watch's next look when no page comes first: one transaction less.
    unwritten_count: int | None = None

    async def held(self, *, renew: bool) -> bool:
        """Still ours (renewing the lease when asked)."""
        await self.write_count()
        if renew:
            return await documents.renew_lease(self.document_id, self.owner, self.settings)
        return await Document.exists(
            id=self.document_id, lease_owner=self.owner, status=Status.IN_PROGRESS
        )

    async def counted(self, count: int) -> None:
        """Note the page count, written with the next page recorded."""
        self.unwritten_count = count

    async def write_count(self) -> None:
        """Write the page count now if it is not yet."""
        count, self.unwritten_count = self.unwritten_count, None
        if count is not None:
            await documents.set_page_count(self.document_id, self.owner, count)

    async def keep(self, page: PageResult, path: str, page_count: int | None) -> bool:
        """Record and announce a page under the document's lease."""
        count, self.unwritten_count = self.unwritten_count, None
        return await keep_page(
            self.document_id, self.owner, self.settings, upload_id=self.upload_id,
            page_count=page_count, page=page, path=path, count_learnt=count is not None,
        )  # fmt: skip


async def supervised(
    job: ConversionJob,
    lease: Lease,
    settings: Settings,
    storage: ObjectStore,
    after_count: Callable[[int], Awaitable[None]] | None = None,
) -> ConversionOutcome | None:
    """Runs the job while the lease is ours; None when it stopped being ours."""
    lost = asyncio.Event()
    counted: list[int] = []
    clock = LocalLease(settings.lease_seconds)
    document_id = lease.document_id

    async def on_count(count: int) -> None:
        counted.append(count)
        await lease.counted(count)
        if after_count is not None:
            await after_count(count)

    async def on_page(page: PageResult) -> None:
        page_count = counted[-1] if counted else None
        # Stored under its final key before it is recorded: a recorded page is always there.
        path = keys.page_key(lease.upload_id, document_id, page.number)
        await storage.store_file(path, page.path)
        asked = clock.asking()
        if not await lease.keep(page, path, page_count):
            lost.set()
            run.cancel()  # delivered at the runner's next await; it kills the child
        else:
            clock.renewed(asked)

    run = asyncio.create_task(
        run_job(job, settings=settings, on_count=on_count, on_page=on_page, held=clock.held)
    )
    watch = asyncio.create_task(_watch(lease, settings, run, lost, clock))
    try:
        return await run
    except LeaseExpired:
        logger.warning("lease of document %s ran out here; its conversion was killed", document_id)
        return None
    except asyncio.CancelledError:
        if not lost.is_set():
            raise
        logger.info("document %s stopped: cancelled or taken over", document_id)
        return None
    except StorageUnavailable:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            raise  # not the document's fault: it is queued again when the dependency is back
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
    held: Callable[[], bool] | None = None,
) -> ConversionOutcome:
    """Converts one document; an office document first becomes its PDF rendition."""
    if job.kind in OFFICE_KINDS:
        # One LibreOffice per conversion slot, started only when that many are busy at once.
        slots = get_slots(settings).size
        try:
            job = await office_pool.rendition(job, settings, pool or office_pool.shared_pool(slots))
        except ConversionError as exc:
            return ConversionOutcome(None, exc.code, exc.message, retriable=exc.code in RETRIABLE)
    return await run_conversion(
        job, settings=settings, on_count=on_count, on_page=on_page, held=held or (lambda: True)
    )


async def _watch(
    lease: Lease, settings: Settings, run: asyncio.Task[Any], lost: asyncio.Event, clock: LocalLease
) -> None:
    # Polls the row: catches a cancel quickly and renews the lease every third of its length.
    loop = asyncio.get_running_loop()
    renew_at = loop.time() + settings.lease_seconds / 3
    while not run.done():
        await asyncio.sleep(WATCH_SECONDS)
        if not clock.held():  # woken after the lease ran out (the process was stopped)
            lost.set()
            run.cancel()  # the runner kills the child at its next await
            return
        renew = loop.time() >= renew_at
        asked = clock.asking()
        if renew:
            renew_at = loop.time() + settings.lease_seconds / 3
        if not await lease.held(renew=renew):
            lost.set()
            run.cancel()
            return
        if renew:
            clock.renewed(asked)


class LocalLease:
    """The lease as this process last knew it, on its own clock: after a stop (SIGSTOP, a
    long pause) it knows the lease ran out before it asks the database anything."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def asking(self) -> float:
        """The moment a renewal is asked for (the new lease counts from here at best)."""
        return time.monotonic()

    def renewed(self, asked: float) -> None:
        """The renewal asked for at `asked` was granted."""
        self.deadline = max(self.deadline, asked + self.seconds)

    def held(self) -> bool:
        """True while the lease has not run out by this process's clock."""
        return time.monotonic() < self.deadline
