"""Parent side of a conversion: hands the job to a warm child process and follows it."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from settings import Settings
from tasks.engine.errors import DISK_FULL_TEXT, KEEP_AFTER, RETRIABLE, STORAGE_FULL_MESSAGE
from tasks.engine.geometry import Limits
from tasks.engine.pages import PageResult
from tasks.sandbox import attempts
from tasks.sandbox.pool import Child, get_pool
from tasks.sandbox.procs import exit_code, last_line
from tasks.sandbox.slots import get_slots

logger = logging.getLogger(__name__)


@dataclass
class ConversionJob:
    """What to convert, and the pages already recorded (they are not rendered again). A PDF
    renders only pages first..last (last None: to the end; 0: none, only counted)."""

    source: Path
    kind: str
    pages_dir: Path
    done_pages: list[int] = field(default_factory=list)
    first: int = 1
    last: int | None = None


class LeaseExpired(Exception):
    """The caller no longer holds the document: the child was killed, nothing moved."""


def _always_held() -> bool:
    return True


@dataclass(frozen=True)
class ConversionOutcome:
    """How a conversion ended; retriable when it was killed or crashed."""

    page_count: int | None
    error_code: str | None
    error_message: str | None
    retriable: bool = False


@dataclass
class _Progress:
    count: int | None = None
    done: int | None = None
    error: tuple[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.done is not None or self.error is not None


def limits_from_settings(settings: Settings) -> Limits:
    """The engine limits configured in settings."""
    return Limits(
        max_side=settings.max_side,
        max_density=settings.max_density,
        max_pixels=settings.max_pixels,
        max_image_side=settings.max_image_side,
        max_pages=settings.max_pages,
        max_page_points=settings.max_page_points,
        png_compression_level=settings.png_compression_level,
        png_filter=settings.png_filter,
        pdf_png_filter=settings.pdf_png_filter,
        image_engine=settings.image_engine,
        pdf_engine=settings.pdf_engine,
    )


def job_payload(job: ConversionJob, settings: Settings) -> dict[str, Any]:
    """The JSON job line a child reads."""
    return {
        "source": str(job.source.resolve()),
        "kind": job.kind,
        "pages_dir": str(job.pages_dir.resolve()),
        "done_pages": sorted(job.done_pages),
        "first": job.first,
        "last": job.last,
        "limits": asdict(limits_from_settings(settings)),
    }


async def run_conversion(
    job: ConversionJob,
    *,
    settings: Settings,
    on_count: Callable[[int], Awaitable[None]],
    on_page: Callable[[PageResult], Awaitable[None]],
    held: Callable[[], bool] = _always_held,
) -> ConversionOutcome:
    """Converts in a child process, awaiting the callbacks as pages land on disk. The child
    renders into a folder of this attempt; each page moves into pages_dir only while
    `held()` says the document is still ours, else the child is killed (LeaseExpired).
    It first waits for one of the process's conversion slots; the timeout starts after."""
    async with get_slots(settings).hold():
        return await _in_child(job, settings, _Moves(job.pages_dir, held, on_count, on_page))


async def _in_child(job: ConversionJob, settings: Settings, moves: _Moves) -> ConversionOutcome:
    pool = get_pool()
    work = attempts.open_attempt(job, settings.document_timeout)
    child = await pool.acquire(settings)
    progress = _Progress()
    reusable = False
    try:
        async with asyncio.timeout(settings.document_timeout):
            await child.send({**job_payload(replace(job, pages_dir=work), settings), "ack": True})
            await _follow(child, progress, moves)
    except TimeoutError:
        message = f"conversion took longer than {settings.document_timeout:g} s"
        return ConversionOutcome(progress.count, "TIMEOUT", message, retriable=False)
    else:
        if not progress.finished:  # the child died in the middle of the job
            return _crashed(progress, await child.exit_status(), child.stderr_text())
        reusable = progress.error is None or progress.error[0] in KEEP_AFTER
        return _outcome(progress)
    finally:
        # Also reached on timeouts, cancellation and errors raised by the callbacks: a child
        # whose job did not finish is killed, with any Ghostscript it runs.
        await asyncio.shield(pool.release(child, reusable=reusable))
        # Only this attempt's folder: a partial page of a killed child goes with it, and
        # another attempt's files are never touched.
        attempts.close_attempt(work)


@dataclass
class _Moves:
    """Where pages go once rendered, and who is told."""

    pages_dir: Path
    held: Callable[[], bool]
    on_count: Callable[[int], Awaitable[None]]
    on_page: Callable[[PageResult], Awaitable[None]]


async def _follow(child: Child, progress: _Progress, moves: _Moves) -> None:
    """Reads protocol lines until the job's last line, or until the child closes stdout."""
    while not progress.finished and (raw := await child.readline()):
        try:
            line = json.loads(raw)
            event = line["event"]
        except (ValueError, KeyError, TypeError):
            logger.warning("conversion child wrote a stray line: %r", raw[:200])
            continue
        if event == "count":
            progress.count = int(line["pages"])
            await moves.on_count(progress.count)
        elif event == "page":
            await moves.on_page(await _take_page(child, line, moves))
        elif event == "error":
            progress.error = (str(line["code"]), str(line["message"]))
        elif event == "done":
            progress.done = int(line["pages"])


async def _take_page(child: Child, line: dict[str, Any], moves: _Moves) -> PageResult:
    """Moves a rendered page into place and lets the child go on, if the document is ours."""
    if not moves.held():
        # Before anything else: a worker resumed after its lease ran out must not let its
        # child write one more page (the new owner converts the document).
        child.kill()
        raise LeaseExpired
    rendered = Path(line["path"])
    final = moves.pages_dir / rendered.name
    await asyncio.to_thread(attempts.move_page, rendered, final)
    await child.acknowledge()
    return PageResult(
        int(line["number"]), int(line["width"]), int(line["height"]), final, int(line["size_bytes"])
    )


def _outcome(progress: _Progress) -> ConversionOutcome:
    if progress.error is not None:
        code, message = progress.error
        return ConversionOutcome(progress.count, code, message, retriable=code in RETRIABLE)
    return ConversionOutcome(progress.done, None, None)


def _crashed(progress: _Progress, returncode: int, text: str) -> ConversionOutcome:
    if DISK_FULL_TEXT in text:
        logger.warning("conversion failed: the storage volume is full")
        return ConversionOutcome(progress.count, "STORAGE_FULL", STORAGE_FULL_MESSAGE)
    code = exit_code(returncode, text)
    if returncode < 0:
        message = f"conversion process killed by {signal.Signals(-returncode).name}"
    else:
        message = f"conversion process exited with status {returncode}: {last_line(text)}"
    logger.warning("conversion failed (%s): %s", code, text[-2000:])
    return ConversionOutcome(progress.count, code, message, retriable=True)
