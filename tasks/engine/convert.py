"""The engine's entry: turn one PDF, PNG or JPEG into PNG pages that fit a box.

PDF pages go through PDFium or Ghostscript (tasks/engine/pdf.py); images through libvips or
Wand, as `Limits.image_engine` says. Wand, pyvips, pypdfium2 and pikepdf are imported where
they are needed,
never at module level: the conversion child must set the libraries' limits first, then
calls warm_up() once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tasks.engine import images_wand
from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits
from tasks.engine.image_checks import check_image_size, check_jpeg_complete, header_size
from tasks.engine.kinds import PDF_SNIFF_BYTES, sniff
from tasks.engine.pages import PageResult, page_path
from tasks.engine.pdf import convert_pdf
from tasks.engine.pdf_ghostscript import GS_MEMORY_MARKERS


def warm_up(image_engine: str = "vips") -> None:
    """Import the libraries conversions use (~1 s of CPU), so that no document pays."""
    import wand.image  # noqa: F401  (the Wand engine; its policy is checked at start-up)

    import tasks.engine.pdf_pdfium  # noqa: F401  (pypdfium2, ISA-L)
    import tasks.engine.pdfinfo  # noqa: F401  (pikepdf)

    if image_engine == "vips":
        import tasks.engine.images_vips  # noqa: F401


def convert(
    source: Path,
    kind: str,
    pages_dir: Path,
    limits: Limits,
    skip: Callable[[int], bool],
    on_count: Callable[[int], None],
    on_page: Callable[[PageResult], None],
    first: int = 1,
    last: int | None = None,
) -> int:
    """Renders source into pages_dir/0001.png...; returns the page count. A PDF renders only
    its pages first..last (last None: to the end; last 0: none, it is only counted)."""
    with source.open("rb") as handle:
        sniffed = sniff(handle.read(PDF_SNIFF_BYTES))
    if sniffed not in ("pdf", "png", "jpeg"):
        raise ConversionError("UNSUPPORTED_FORMAT", f"not a PDF, PNG or JPEG (given as {kind})")
    pages_dir.mkdir(parents=True, exist_ok=True)
    for stale in pages_dir.glob("*.tmp"):  # left by a killed attempt
        stale.unlink(missing_ok=True)
    if sniffed == "pdf":
        return convert_pdf(source, pages_dir, limits, skip, on_count, on_page, (first, last))
    on_count(1)
    if not (skip(1) and page_path(pages_dir, 1).exists()):
        on_page(convert_image(source, sniffed, pages_dir, limits))
    return 1


def convert_image(source: Path, kind: str, pages_dir: Path, limits: Limits) -> PageResult:
    """Page 1 of a PNG or JPEG, written with the configured image engine."""
    # Checked before either engine's library is even loaded.
    size = header_size(source, kind)
    check_image_size(*size, limits)
    if kind == "jpeg":
        check_jpeg_complete(source)
    final = page_path(pages_dir, 1)
    tmp = final.with_name(final.name + ".tmp")
    write = _write_with_vips if limits.image_engine == "vips" else images_wand.write_png
    try:
        shown = write(source, kind, size, tmp, limits)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, final)
    return PageResult(1, shown[0], shown[1], final, final.stat().st_size)


def _write_with_vips(
    source: Path, kind: str, size: tuple[int, int], tmp: Path, limits: Limits
) -> tuple[int, int]:
    try:
        from tasks.engine.images_vips import write_png
    except OSError as exc:
        # Loading libvips and its ~100 libraries fails first under a small address-space cap.
        if any(marker in str(exc) for marker in GS_MEMORY_MARKERS):
            raise ConversionError("RESOURCE_LIMIT", f"no memory to load libvips: {exc}") from exc
        raise
    return write_png(source, kind, size, tmp, limits)
