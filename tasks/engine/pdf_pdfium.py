"""PDF pages through PDFium (pypdfium2): each page drawn straight into the PNG row buffer at
exactly the pixel size the API reports, annotations and form fields as a viewer shows them.

pypdfium2's `render(scale=...)` sizes its bitmap with ceil() (a 3300-pixel page comes out
3301): the bitmap here is made at the size computed by `geometry.pdf_pixels` and PDFium scales
the displayed box (CropBox within MediaBox, /Rotate applied) onto it. PDFium ignores
/UserUnit, which only scales the page uniformly: the size computed with it is the size drawn.
PDFium is not thread-safe: one document at a time per process.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits, pdf_pixels
from tasks.engine.pages import PageResult, page_path
from tasks.engine.png import RowBuffer, apply_filter, write_png

Size = tuple[float, float]
WHITE = 0xFFFFFFFF
# Annotations as a viewer shows them; RGB byte order, which is PNG's.
RENDER_FLAGS = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER


def render_pages(
    source: Path,
    numbers: list[int],
    sizes: list[Size],
    pages_dir: Path,
    limits: Limits,
    on_page: Callable[[PageResult], None],
) -> None:
    """Renders the given pages (1-based) into pages_dir, announcing each once on disk."""
    document = _open(source)
    try:
        document.init_forms()  # before any page is loaded, or fields are not drawn
        for number in numbers:
            width, height = pdf_pixels(*sizes[number - 1], limits)
            final = page_path(pages_dir, number)
            size = _render_page(document, number, (width, height), final, limits)
            on_page(PageResult(number, width, height, final, size))
    finally:
        document.close()


def _open(source: Path) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise ConversionError("ENCRYPTED_PDF", "the PDF needs a password to open") from exc
        raise ConversionError("CORRUPT_FILE", f"unreadable PDF: {exc}") from exc


def _render_page(
    document: pdfium.PdfDocument, number: int, size: tuple[int, int], final: Path, limits: Limits
) -> int:
    """Draws page `number` at size into final (through a temporary name); returns its bytes."""
    try:
        page = document[number - 1]
    except pdfium.PdfiumError as exc:
        raise ConversionError("CORRUPT_FILE", f"page {number} is unreadable: {exc}") from exc
    try:
        rows = RowBuffer.new(*size, channels=3)
        _draw(page, rows)
    finally:
        page.close()
    apply_filter(rows, limits.pdf_png_filter)
    tmp = final.with_name(final.name + ".tmp")
    try:
        written = write_png(tmp, rows, limits.png_compression_level)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def _draw(page: pdfium.PdfPage, rows: RowBuffer) -> None:
    """Page and form fields, on white, into the pixels of rows (skipping the filter bytes)."""
    memory = (ctypes.c_ubyte * len(rows.data)).from_buffer(rows.writable)
    first_pixel = ctypes.cast(ctypes.byref(memory, 1), ctypes.c_void_p)
    bitmap = pdfium_c.FPDFBitmap_CreateEx(
        rows.width, rows.height, pdfium_c.FPDFBitmap_BGR, first_pixel, rows.stride
    )
    if not bitmap:
        raise MemoryError("PDFium could not make a bitmap")
    try:
        pdfium_c.FPDFBitmap_FillRect(bitmap, 0, 0, rows.width, rows.height, WHITE)
        place = (0, 0, rows.width, rows.height, 0, RENDER_FLAGS)
        pdfium_c.FPDF_RenderPageBitmap(bitmap, page, *place)
        if page.formenv:
            pdfium_c.FPDF_FFLDraw(page.formenv, bitmap, page, *place)
    finally:
        pdfium_c.FPDFBitmap_Destroy(bitmap)
        del memory  # releases the export of rows.data
