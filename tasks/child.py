"""The conversion child: `python -m tasks.child`, one JSON job on stdin, JSON lines on stdout.

Limits are set before Wand or pyvips is imported, because ImageMagick and libvips read their
environment once when the library loads. Typed failures are reported as an "error" line with
exit status 0; any other exit status means the child crashed or was killed.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from pathlib import Path
from typing import IO, Any

POLICY_DIR = Path(__file__).resolve().with_name("policy")
MiB = 1024 * 1024
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
    cap = resources["memory_limit_mb"] * MiB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    one_malloc_arena()
    threads = resources["thread_limit"]
    os.environ.update(
        magick_environment(resources["magick_memory_mb"], resources["magick_disk_mb"], threads)
    )
    os.environ.update(vips_environment(threads))


def protocol_stream() -> IO[str]:
    """The real stdout, reserved for protocol lines; fd 1 then points at stderr, so that
    anything a library prints cannot corrupt the protocol."""
    stream = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def run(job: dict[str, Any], out: IO[str]) -> None:
    """Runs one job, writing protocol lines to out."""
    from tasks import engine  # only now: the limits above must be in place first

    def emit(**fields: object) -> None:
        out.write(json.dumps(fields) + "\n")
        out.flush()

    def on_page(page: engine.PageResult) -> None:
        emit(
            event="page",
            number=page.number,
            width=page.width,
            height=page.height,
            path=str(page.path),
            size_bytes=page.size_bytes,
        )

    done = set(job["done_pages"])
    try:
        pages = engine.convert(
            Path(job["source"]),
            job["kind"],
            Path(job["pages_dir"]),
            engine.Limits(**job["limits"]),
            done.__contains__,
            lambda count: emit(event="count", pages=count),
            on_page,
        )
    except engine.ConversionError as exc:
        emit(event="error", code=exc.code, message=exc.message)
        return
    except MemoryError:
        emit(event="error", code="RESOURCE_LIMIT", message="out of memory")
        return
    emit(event="done", pages=pages)


def office_step(job: dict[str, Any], out: IO[str]) -> bool:
    """Turns an office document into its PDF rendition, which the job then renders."""
    from tasks import engine, office  # neither loads Wand

    resources = job["resources"]
    cap = resources["office_memory_limit_mb"] * MiB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))  # lowered again by apply_limits
    target = office.rendition_path(Path(job["pages_dir"]))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file():  # a retried attempt keeps the PDF made before
        try:
            office.to_pdf(
                Path(job["source"]),
                job["kind"],
                target,
                # The parent is the worker process: one LibreOffice profile per worker.
                office.profile_dir(os.getppid()),
                float(resources["office_timeout"]),
            )
        except engine.ConversionError as exc:
            out.write(json.dumps({"event": "error", "code": exc.code, "message": exc.message}))
            out.write("\n")
            out.flush()
            return False
    job["source"], job["kind"] = str(target), "pdf"
    return True


def main() -> int:
    """Entry point of the child process."""
    from tasks.office import OFFICE_KINDS

    out = protocol_stream()
    job = json.loads(sys.stdin.read())
    if job["kind"] in OFFICE_KINDS and not office_step(job, out):
        return 0
    apply_limits(job["resources"])
    run(job, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
