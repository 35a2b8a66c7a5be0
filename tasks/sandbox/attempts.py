"""A folder per conversion attempt: the child renders there, and pages move into place only
while the attempt holds the document. Two attempts never share a temporary name, and the
cleanup of one never touches another's files."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Protocol

PREFIX = ".attempt-"


class Job(Protocol):
    pages_dir: Path
    done_pages: list[int]


def page_name(number: int) -> str:
    """The file name of page `number` (as the engine writes it)."""
    return f"{number:04d}.png"


def open_attempt(job: Job, max_age: float) -> Path:
    """A fresh folder next to the job's pages, holding links to the pages already done (so
    the engine skips them); folders of attempts older than `max_age` seconds are removed:
    no live attempt is that old (the child is killed at the document timeout)."""
    document_dir = job.pages_dir.parent
    document_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(document_dir, max_age)
    work = Path(tempfile.mkdtemp(prefix=PREFIX, dir=document_dir))
    for number in job.done_pages:
        with contextlib.suppress(OSError):  # not linkable: the page is rendered again
            os.link(job.pages_dir / page_name(number), work / page_name(number))
    return work


def move_page(rendered: Path, final: Path) -> None:
    """Put a rendered page in its place (atomically: a reader sees all of it or none)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(rendered, final)


def close_attempt(work: Path) -> None:
    """Remove an attempt's folder with whatever a killed child left in it."""
    shutil.rmtree(work, ignore_errors=True)


def remove_stale(document_dir: Path, max_age: float) -> None:
    """Remove attempt folders not touched for `max_age` seconds (their worker died)."""
    cutoff = time.time() - max_age
    for folder in document_dir.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
