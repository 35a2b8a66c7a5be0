"""A PDF's pages: the page tree read with pikepdf (count, displayed sizes, damage, limits),
then the pages rendered by PDFium (the default) or Ghostscript, as `Limits.pdf_engine` says.

Both engines get the same pages to render at the same pixel sizes, so they give the same
pages, the same errors and the same resume behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits
from tasks.engine.pages import PageResult, PageTable, page_path

if TYPE_CHECKING:
    from tasks.engine.pdfinfo import PdfDocument


def convert_pdf(
    source: Path,
    pages_dir: Path,
    limits: Limits,
    skip: Callable[[int], bool],
    on_count: Callable[[int], None],
    on_page: Callable[[PageResult], None],
    pages: tuple[int, int | None] = (1, None),
) -> int:
    """Renders the PDF's pages first..last (`pages`) not skipped into pages_dir; returns the
    page count. Damage after `last` is not this call's to report."""
    # pikepdf loads only here: the conversion child sets its limits before that.
    from tasks.engine.pdfinfo import PasswordRequired, UnreadablePdf, open_pdf

    try:
        with open_pdf(source) as pdf:
            count = _checked_count(pdf, limits)
            # A range needs the pages up to its last only.
            table = _page_table(pdf, count if pages[1] is None else min(count, pages[1]), limits)
    except PasswordRequired as exc:
        raise ConversionError("ENCRYPTED_PDF", "the PDF needs a password to open") from exc
    except UnreadablePdf as exc:
        raise ConversionError("CORRUPT_FILE", f"unreadable PDF: {exc}") from exc
    on_count(count)
    first, last = pages[0], count if pages[1] is None else pages[1]
    todo = [
        n
        for n in range(first, min(len(table.sizes), last) + 1)
        if not (skip(n) and page_path(pages_dir, n).exists())
    ]
    _render(source, todo, table, pages_dir, limits, on_page)
    if table.unreadable is not None and table.unreadable <= last:
        raise ConversionError(
            "CORRUPT_FILE",
            f"page {table.unreadable} of {count} is unreadable: {len(table.sizes)} rendered",
        )
    return count


def _render(
    source: Path,
    todo: list[int],
    table: PageTable,
    pages_dir: Path,
    limits: Limits,
    on_page: Callable[[PageResult], None],
) -> None:
    # Each engine's library loads only when it is chosen.
    if limits.pdf_engine == "pdfium":
        from tasks.engine import pdf_pdfium

        pdf_pdfium.render_pages(source, todo, table.sizes, pages_dir, limits, on_page)
    else:
        from tasks.engine import pdf_ghostscript

        pdf_ghostscript.render_pages(source, todo, table, pages_dir, limits, on_page)


def _checked_count(pdf: PdfDocument, limits: Limits) -> int:
    declared = pdf.declared_page_count
    if declared is not None and declared > limits.max_pages:
        # Checked before qpdf walks the page tree, which takes seconds for 100k pages.
        raise ConversionError(
            "TOO_LARGE",
            f"the page tree declares {declared} pages, more than the limit of {limits.max_pages}",
        )
    count = pdf.page_count
    if count < 1:
        raise ConversionError("CORRUPT_FILE", "the PDF has no pages")
    if count > limits.max_pages:
        raise ConversionError(
            "TOO_LARGE", f"{count} pages, more than the limit of {limits.max_pages}"
        )
    return count


def _page_table(pdf: PdfDocument, count: int, limits: Limits) -> PageTable:
    """Sizes of the readable leading pages, the first unreadable page, the blank pages."""
    from tasks.engine.pdfinfo import UnreadablePdf

    table = PageTable([], None, set())
    for number in range(1, count + 1):
        try:
            width, height = pdf.page_size(number)
            marked = pdf.has_marks(number)
        except UnreadablePdf:
            table.unreadable = number
            return table
        if max(width, height) > limits.max_page_points:
            raise ConversionError(
                "TOO_LARGE",
                f"page {number} is {width:.0f}x{height:.0f} pt, "
                f"larger than the limit of {limits.max_page_points:.0f} pt",
            )
        table.sizes.append((width, height))
        if not marked:
            table.blank.add(number)
    return table
