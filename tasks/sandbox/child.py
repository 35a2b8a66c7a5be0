"""The conversion child: `python -m tasks.sandbox.child RESOURCES`; JSON jobs in, JSON lines out.

A child is kept warm between documents: it sets its limits and imports the engine once,
then reads one job per line and answers each with protocol lines ending in "done" or
"error". Limits are set before Wand or pyvips is imported, because ImageMagick and libvips
read their environment once when the library loads. Typed failures are "error" lines; a
child that exits or is killed in the middle of a job crashed. It exits when stdin closes or
its parent dies.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from pathlib import Path
from typing import IO, Any

# None of these loads Wand, pyvips or pikepdf: warm_up() does, once the limits are set.
from tasks.engine import convert as engine
from tasks.engine.errors import (
    DISK_FULL_TEXT,
    STORAGE_FULL_MESSAGE,
    ConversionError,
    disk_full,
)
from tasks.engine.geometry import Limits
from tasks.engine.pages import PageResult

POLICY_DIR = Path(__file__).resolve().with_name("policy")
MiB = 1024 * 1024
PR_SET_PDEATHSIG = 1
M_ARENA_MAX = -8  # glibc's mallopt() parameter number


def magick_environment(magick_memory_mb: int, magick_disk_mb: int, threads: int) -> dict[str, str]:
    """Environment that makes ImageMagick load the project policy and stay within limits."""
    return {
        "MAGICK_CONFIGURE_PATH": str(POLICY_DIR),  # adds to the system policy (restricts only)
        "MAGICK_MEMORY_LIMIT": f"{magick_memory_mb}MiB",
        # Mapped pixel caches count against RLIMIT_AS too: keep them as small as the heap.
        "MAGICK_MAP_LIMIT": f"{magick_memory_mb}MiB",
        "MAGICK_DISK_LIMIT": f"{magick_disk_mb}MiB",
        "MAGICK_THREAD_LIMIT": str(threads),
        "OMP_NUM_THREADS": str(threads),
        # Without these Wand probes many library names first (~0.5 s per process).
        "MAGICK_HOME": "/usr",
        "WAND_MAGICK_LIBRARY_SUFFIX": "-6.Q16",
    }


def set_memory_cap(megabytes: int) -> None:
    """Caps this process's address space (and what it starts, e.g. Ghostscript). Only the
    soft limit: warm_up lifts it once to tell a missing library from a cap set too low."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = megabytes * MiB
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard < 0 else min(cap, hard), hard))


def vips_environment(threads: int) -> dict[str, str]:
    """Environment libvips reads when it starts: its worker threads, untrusted loaders off."""
    return {"VIPS_CONCURRENCY": str(threads), "VIPS_BLOCK_UNTRUSTED": "1"}


def one_malloc_arena() -> None:
    """Makes every thread allocate from the main heap. Otherwise glibc reserves 64 MB of
    address space for each thread's own arena, all counted against RLIMIT_AS: libvips' worker
    and writer threads took an 8000x8000 PNG's conversion from 300 to 540 MB of it."""
    ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)


def apply_limits(resources: dict[str, int]) -> None:
    """Caps this process (and the Ghostscript it runs) and configures ImageMagick and libvips."""
    set_memory_cap(resources["memory_limit_mb"])
    one_malloc_arena()
    threads = resources["thread_limit"]
    os.environ.update(
        magick_environment(resources["magick_memory_mb"], resources["magick_disk_mb"], threads)
    )
    os.environ.update(vips_environment(threads))
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)  # numpy's, when rows are filtered


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when the worker that started it dies (Linux only), so a killed
    worker leaves no conversion running behind it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def protocol_stream() -> IO[str]:
    """The real stdout, reserved for protocol lines; fd 1 then points at stderr, so that
    anything a library prints cannot corrupt the protocol."""
    stream = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def _emitter(out: IO[str]) -> Any:
    def emit(**fields: object) -> None:
        out.write(json.dumps(fields) + "\n")
        out.flush()

    return emit


class Stopped(Exception):
    """The parent did not let this job go on past a page (it lost the document)."""


def run(job: dict[str, Any], out: IO[str], jobs: IO[str] | None = None) -> None:
    """Runs one job, writing protocol lines to out; the last is "done" or "error". With
    "ack" in the job, each page waits for the parent's "next" line on `jobs`: a parent that
    is stopped or lost the document holds its child after one page."""
    emit = _emitter(out)

    def on_page(page: PageResult) -> None:
        emit(
            event="page",
            number=page.number,
            width=page.width,
            height=page.height,
            path=str(page.path),
            size_bytes=page.size_bytes,
        )
        if job.get("ack") and (jobs is None or jobs.readline().strip() != "next"):
            raise Stopped

    done = set(job["done_pages"])
    try:
        pages = engine.convert(
            Path(job["source"]),
            job["kind"],
            Path(job["pages_dir"]),
            Limits(**job["limits"]),
            done.__contains__,
            lambda count: emit(event="count", pages=count),
            on_page,
            job.get("first", 1),
            job.get("last"),
        )
    except ConversionError as exc:
        # A library that could not write its output says why only in its message.
        full = DISK_FULL_TEXT in exc.message
        code, message = ("STORAGE_FULL", STORAGE_FULL_MESSAGE) if full else (exc.code, exc.message)
        emit(event="error", code=code, message=message)
        return
    except MemoryError:
        emit(event="error", code="RESOURCE_LIMIT", message="out of memory")
        return
    except Exception as exc:
        if not disk_full(exc):
            raise
        # Typed and final: trying again on the same full volume cannot succeed.
        emit(event="error", code="STORAGE_FULL", message=STORAGE_FULL_MESSAGE)
        return
    emit(event="done", pages=pages)


def serve(jobs: IO[str], out: IO[str]) -> None:
    """Answers jobs, one per line, until jobs ends or the parent stops a job."""
    while line := jobs.readline():
        if line.strip():
            try:
                run(json.loads(line), out, jobs)
            except Stopped:
                return


def main() -> int:
    """Entry point of the child process."""
    resources = json.loads(sys.argv[1])
    if resources.get("parent"):
        die_with_parent(int(resources["parent"]))
    out = protocol_stream()
    apply_limits(resources)
    failure = warm_up(resources)
    if failure is not None:
        # Typed, for the job that was waiting for this child: the cap is set too low.
        if sys.stdin.readline():
            _emitter(out)(event="error", code="RESOURCE_LIMIT", message=failure)
        return 0
    serve(sys.stdin, out)
    return 0


def warm_up(resources: dict[str, Any]) -> str | None:
    """Loads the engine's libraries; why it cannot within the memory cap, if so."""
    try:
        engine.warm_up(resources["image_engine"])
        return None
    except (ImportError, MemoryError, OSError) as exc:
        # A library that fails to map under the cap is reported by Wand as "not found":
        # try again without the cap to tell a missing library from a small cap.
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for name in [m for m in sys.modules if m.split(".")[0] in ("wand", "pikepdf", "pyvips")]:
            del sys.modules[name]  # half-imported: they would fail again without loading
        engine.warm_up(resources["image_engine"])  # raises (a crash) if really missing
        return (
            f"the conversion process cannot load its libraries within "
            f"memory_limit_mb={resources['memory_limit_mb']} ({type(exc).__name__})"
        )


if __name__ == "__main__":
    sys.exit(main())
