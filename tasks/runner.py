"""Parent side of a conversion: runs tasks.child in its own process group and follows it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from settings import Settings
from tasks.engine import Limits, PageResult

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RETRIABLE = frozenset({"RESOURCE_LIMIT", "WORKER_CRASHED"})
# Signals that, under an address-space cap, mean "ran out of memory": the OOM killer sends
# SIGKILL, and a failed allocation in C code often ends in SIGSEGV or SIGBUS.
MEMORY_SIGNALS = frozenset({signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS})
MEMORY_MARKERS = ("MemoryError", "cache resources exhausted", "std::bad_alloc", "VMerror")
STDERR_KEEP = 64 * 1024


@dataclass
class ConversionJob:
    """What to convert, and the pages already recorded (they are not rendered again)."""

    source: Path
    kind: str
    pages_dir: Path
    done_pages: list[int] = field(default_factory=list)


@dataclass
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
        image_engine=settings.image_engine,
    )


def job_payload(job: ConversionJob, settings: Settings) -> dict[str, Any]:
    """The JSON job the child reads on stdin."""
    return {
        "source": str(job.source.resolve()),
        "kind": job.kind,
        "pages_dir": str(job.pages_dir.resolve()),
        "done_pages": sorted(job.done_pages),
        "limits": asdict(limits_from_settings(settings)),
        "resources": {
            "memory_limit_mb": settings.memory_limit_mb,
            "magick_memory_mb": settings.magick_memory_mb,
            "magick_disk_mb": settings.magick_disk_mb,
            "thread_limit": settings.thread_limit,
            "office_timeout": settings.office_timeout,
            "office_memory_limit_mb": settings.office_memory_limit_mb,
        },
    }


async def run_conversion(
    job: ConversionJob,
    *,
    settings: Settings,
    on_count: Callable[[int], Awaitable[None]],
    on_page: Callable[[PageResult], Awaitable[None]],
) -> ConversionOutcome:
    """Converts in a child process, awaiting the callbacks as pages land on disk."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tasks.child",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: one kill reaches Ghostscript too
        cwd=PROJECT_ROOT,
    )
    stderr = bytearray()
    drain = asyncio.create_task(_drain(proc, stderr))
    progress = _Progress()
    try:
        async with asyncio.timeout(settings.document_timeout):
            await _send_job(proc, job_payload(job, settings))
            await _follow(proc, progress, on_count, on_page)
            returncode = await proc.wait()
    except TimeoutError:
        _kill_group(proc)
        await proc.wait()
        message = f"conversion took longer than {settings.document_timeout:g} s"
        return ConversionOutcome(progress.count, "TIMEOUT", message, retriable=False)
    finally:
        # Also reached on cancellation and on errors raised by the callbacks. A Ghostscript
        # left behind by a child that died would still be in the group: kill it too.
        _kill_group(proc)
        if proc.returncode is None:
            await proc.wait()
        if proc.returncode != 0:
            _remove_partial_pages(job.pages_dir)
        await _finish_drain(drain)
    if stderr:
        logger.debug("conversion child stderr: %s", stderr.decode("utf-8", "replace"))
    return _outcome(progress, returncode, bytes(stderr))


async def _send_job(proc: asyncio.subprocess.Process, payload: dict[str, Any]) -> None:
    if proc.stdin is None:
        raise RuntimeError("child stdin not piped")
    proc.stdin.write(json.dumps(payload).encode())
    with contextlib.suppress(ConnectionError):  # the child may already have died
        await proc.stdin.drain()
    proc.stdin.close()


async def _follow(
    proc: asyncio.subprocess.Process,
    progress: _Progress,
    on_count: Callable[[int], Awaitable[None]],
    on_page: Callable[[PageResult], Awaitable[None]],
) -> None:
    """Reads protocol lines until the child closes stdout."""
    if proc.stdout is None:
        raise RuntimeError("child stdout not piped")
    async for raw in proc.stdout:
        try:
            line = json.loads(raw)
            event = line["event"]
        except (ValueError, KeyError, TypeError):
            logger.warning("conversion child wrote a stray line: %r", raw[:200])
            continue
        if event == "count":
            progress.count = int(line["pages"])
            await on_count(progress.count)
        elif event == "page":
            page = PageResult(
                int(line["number"]),
                int(line["width"]),
                int(line["height"]),
                Path(line["path"]),
                int(line["size_bytes"]),
            )
            await on_page(page)
        elif event == "error":
            progress.error = (str(line["code"]), str(line["message"]))
        elif event == "done":
            progress.done = int(line["pages"])


async def _drain(proc: asyncio.subprocess.Process, keep: bytearray) -> None:
    """Keeps the tail of the child's stderr (a full pipe would block the child)."""
    if proc.stderr is None:
        return
    while chunk := await proc.stderr.read(65536):
        keep += chunk
        del keep[:-STDERR_KEEP]


async def _finish_drain(drain: asyncio.Task[None]) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(drain), timeout=5)
    except TimeoutError:
        drain.cancel()
    except asyncio.CancelledError:
        drain.cancel()
        raise


def _remove_partial_pages(pages_dir: Path) -> None:
    """A page a killed child was writing (libvips streams it out row by row): never left."""
    for partial in pages_dir.glob("*.tmp"):
        partial.unlink(missing_ok=True)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The group id is the child's pid (start_new_session); it stays reserved while any
    # member lives, so this cannot hit an unrelated group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _outcome(progress: _Progress, returncode: int, stderr: bytes) -> ConversionOutcome:
    if progress.error is not None:
        code, message = progress.error
        return ConversionOutcome(progress.count, code, message, retriable=code in RETRIABLE)
    if returncode == 0 and progress.done is not None:
        return ConversionOutcome(progress.done, None, None)
    text = stderr.decode("utf-8", "replace")
    last = text.strip().splitlines()[-1][:300] if text.strip() else ""
    if returncode < 0:
        sig = signal.Signals(-returncode)
        code = "RESOURCE_LIMIT" if sig in MEMORY_SIGNALS else "WORKER_CRASHED"
        message = f"conversion process killed by {sig.name}"
    else:
        memory = any(marker in text for marker in MEMORY_MARKERS)
        code = "RESOURCE_LIMIT" if memory else "WORKER_CRASHED"
        message = f"conversion process exited with status {returncode}: {last}"
    logger.warning("conversion failed (%s): %s", code, text[-2000:])
    return ConversionOutcome(progress.count, code, message, retriable=True)
