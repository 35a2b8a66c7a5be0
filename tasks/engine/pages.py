"""A rendered page on disk, and where page `number` of a document lives."""

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
