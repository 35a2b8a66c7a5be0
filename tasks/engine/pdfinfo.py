"""What pagemill needs to know about a PDF before rendering it: page count and displayed sizes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pikepdf

# A page without any MediaBox (invalid, but seen) is shown as US Letter by viewers.
DEFAULT_MEDIABOX = (0.0, 0.0, 612.0, 792.0)


class PasswordRequired(Exception):
    """The PDF cannot be opened without a user password."""


class UnreadablePdf(Exception):
    """The PDF (or one of its pages) is damaged beyond what repair can recover."""


class PdfDocument:
    """An open PDF: page count and the size each page is displayed at, in points."""

    def __init__(self, pdf: pikepdf.Pdf) -> None:
        self._pdf = pdf

    @property
    def page_count(self) -> int:
        """Number of pages."""
        try:
            return len(self._pdf.pages)
        except Exception as exc:  # qpdf raises its own error types for a broken page tree
            raise UnreadablePdf(f"page tree unreadable: {exc}") from exc

    @property
    def declared_page_count(self) -> int | None:
        """The /Count of the page tree root, read without walking the tree (may lie)."""
        try:
            value = self._pdf.Root.Pages.get("/Count")
            return int(value) if value is not None else None
        except Exception:  # noqa: BLE001 - a damaged root is judged by page_count instead
            return None

    def page_size(self, number: int) -> tuple[float, float]:
        """Displayed (width, height) in points of page `number` (1-based)."""
        try:
            page = self._pdf.pages[number - 1].obj
            media = _box(_inherited(page, "/MediaBox")) or DEFAULT_MEDIABOX
            crop = _box(_inherited(page, "/CropBox")) or media
            rotate = _inherited(page, "/Rotate")
            unit = page.get("/UserUnit")
            angle = int(rotate) % 360 if rotate is not None else 0
            scale = float(unit) if unit is not None else 1.0
        except UnreadablePdf:
            raise
        except Exception as exc:
            raise UnreadablePdf(f"page {number} unreadable: {exc}") from exc
        # Viewers show the CropBox clipped to the MediaBox (PDF 32000-1, 14.11.2).
        x0, y0 = max(media[0], crop[0]), max(media[1], crop[1])
        x1, y1 = min(media[2], crop[2]), min(media[3], crop[3])
        if x1 <= x0 or y1 <= y0:
            x0, y0, x1, y1 = media
        width, height = (x1 - x0) * scale, (y1 - y0) * scale
        if width <= 0 or height <= 0:
            raise UnreadablePdf(f"page {number} has an empty MediaBox")
        return (height, width) if angle in (90, 270) else (width, height)

    def has_marks(self, number: int) -> bool:
        """Whether page `number` draws anything (content bytes or annotations). UnreadablePdf
        when a content stream cannot be decoded: PDFium would draw such a page blank,
        Ghostscript stops on it."""
        try:
            page = self._pdf.pages[number - 1].obj
            contents = page.get("/Contents")
            streams = [] if contents is None else _streams(contents)
            drawn = sum(len(stream.read_bytes()) for stream in streams)
            # In a file qpdf had to repair, a missing /Contents may be a lost object: only an
            # intact file's empty page is known to draw nothing.
            return drawn > 0 or bool(page.get("/Annots")) or bool(self._pdf.get_warnings())
        except Exception as exc:
            raise UnreadablePdf(f"page {number} unreadable: {exc}") from exc


def _streams(contents: Any) -> list[pikepdf.Stream]:
    """The content streams of a page; a /Contents that points nowhere (a truncated file's
    missing object) is damage, unlike no /Contents at all."""
    parts = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    if not all(isinstance(part, pikepdf.Stream) for part in parts):
        raise UnreadablePdf("its content is missing")
    return [part for part in parts if isinstance(part, pikepdf.Stream)]


def _inherited(page: Any, key: str) -> Any:
    """An inheritable page attribute, looked up through the /Parent chain."""
    node, seen = page, 0
    while node is not None and seen < 64:  # bounded: a looping /Parent chain is damage
        value = node.get(key)
        if value is not None:
            return value
        node = node.get("/Parent")
        seen += 1
    return None


def _box(value: Any) -> tuple[float, float, float, float] | None:
    """A normalised (x0, y0, x1, y1) rectangle, or None when absent or malformed."""
    if value is None or len(value) != 4:
        return None
    a, b, c, d = (float(v) for v in value)
    return min(a, c), min(b, d), max(a, c), max(b, d)


@contextmanager
def open_pdf(path: Path) -> Iterator[PdfDocument]:
    """Opens a PDF with an empty password (owner-password-only files open fine)."""
    try:
        # Inherited attributes are looked up per page (_inherited): pushing them down to every
        # page at open walks the whole page tree, seconds for a hostile 100,000-page file.
        pdf = pikepdf.open(path, inherit_page_attributes=False)
    except pikepdf.PasswordError as exc:
        raise PasswordRequired(str(exc)) from exc
    except Exception as exc:  # PdfError and friends: not a PDF qpdf can recover
        raise UnreadablePdf(str(exc)) from exc
    with pdf:
        yield PdfDocument(pdf)
