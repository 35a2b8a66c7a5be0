"""A rendered page on disk, where page `number` of a document lives, and what a PDF's page tree
says before rendering."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PageResult:
    """A page on disk."""

    number: int
    width: int
    height: int
    path: Path
    size_bytes: int


def page_path(pages_dir: Path, number: int) -> Path:
    """Where page `number` lives."""
    return pages_dir / f"{number:04d}.png"


@dataclass
class PageTable:
    """What a PDF's page tree says before rendering: the displayed sizes (points) of the
    readable leading pages, the first unreadable page (if any) and the pages that draw
    nothing."""

    sizes: list[tuple[float, float]]
    unreadable: int | None
    blank: set[int]
