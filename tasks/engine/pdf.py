"""PDF pages rendered one at a time by Ghostscript, straight to raw pixels, deflated to PNG.

Ghostscript runs directly (Debian's ImageMagick policy blocks the PDF coder), at a density
computed from each page's size so the page lands within the box without a resize.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits, Size, pdf_density, pdf_pixels
from tasks.engine.kinds import PDF_HEADER, PDF_SNIFF_BYTES
from tasks.engine.pages import PageResult, page_path
from tasks.engine.png import RendererEnded, ppm_to_png

if TYPE_CHECKING:
    from tasks.engine.pdfinfo import PdfDocument

GHOSTSCRIPT = "gs"
# What Ghostscript says when the address-space cap it inherits is too small for it: its
# own allocator's VMerror, or the loader failing to map a shared library (as libvips' does).
GS_MEMORY_MARKERS = ("VMerror", "failed to map segment", "Cannot allocate memory")


def convert_pdf(
    source: Path,
    pages_dir: Path,
    limits: Limits,
    skip: Callable[[int], bool],
    on_count: Callable[[int], None],
    on_page: Callable[[PageResult], None],
) -> int:
    """Renders the PDF's pages not skipped into pages_dir; returns the page count."""
    # pikepdf loads only here: the conversion child sets its limits before that.
    from tasks.engine.pdfinfo import PasswordRequired, UnreadablePdf, open_pdf

    try:
        with open_pdf(source) as pdf:
            count = _checked_count(pdf, limits)
            sizes, unreadable = _page_sizes(pdf, count, limits)
    except PasswordRequired as exc:
        raise ConversionError("ENCRYPTED_PDF", "the PDF needs a password to open") from exc
    except UnreadablePdf as exc:
        raise ConversionError("CORRUPT_FILE", f"unreadable PDF: {exc}") from exc
    on_count(count)
    todo = [
        n for n in range(1, len(sizes) + 1) if not (skip(n) and page_path(pages_dir, n).exists())
    ]
    with tempfile.TemporaryDirectory(prefix="pagemill-gs-") as private:
        scratch = Path(private)
        pdf_source = _from_pdf_header(source, scratch)
        for run in _runs(todo, sizes, limits):
            _render_run(pdf_source, run, sizes, pages_dir, limits, on_page, scratch)
    if unreadable is not None:
        raise ConversionError(
            "CORRUPT_FILE", f"page {unreadable} of {count} is unreadable: {len(sizes)} rendered"
        )
    return count


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


def _from_pdf_header(source: Path, scratch: Path) -> Path:
    """The PDF as Ghostscript must see it: starting at %PDF-. Ghostscript picks its
    interpreter from the first bytes and would run leading bytes as PostScript."""
    with source.open("rb") as handle:
        offset = handle.read(PDF_SNIFF_BYTES).find(PDF_HEADER)
        if offset <= 0:
            return source
        copy = scratch / "source.pdf"
        handle.seek(offset)
        with copy.open("wb") as out:
            shutil.copyfileobj(handle, out)
    return copy


def _runs(numbers: list[int], sizes: list[Size], limits: Limits) -> list[list[int]]:
    """Consecutive pages sharing one density: each run is one Ghostscript process, which
    saves re-opening the document per page (most documents are a single run)."""
    runs: list[list[int]] = []
    for number in numbers:
        dpi = pdf_density(*sizes[number - 1], limits)
        if runs and runs[-1][-1] == number - 1 and dpi == _run_dpi(runs[-1], sizes, limits):
            runs[-1].append(number)
        else:
            runs.append([number])
    return runs


def _run_dpi(run: list[int], sizes: list[Size], limits: Limits) -> float:
    return pdf_density(*sizes[run[0] - 1], limits)


def _page_sizes(pdf: PdfDocument, count: int, limits: Limits) -> tuple[list[Size], int | None]:
    """Sizes of the readable leading pages and the first unreadable page number, if any."""
    from tasks.engine.pdfinfo import UnreadablePdf

    sizes: list[Size] = []
    for number in range(1, count + 1):
        try:
            width, height = pdf.page_size(number)
        except UnreadablePdf:
            return sizes, number
        if max(width, height) > limits.max_page_points:
            raise ConversionError(
                "TOO_LARGE",
                f"page {number} is {width:.0f}x{height:.0f} pt, "
                f"larger than the limit of {limits.max_page_points:.0f} pt",
            )
        sizes.append((width, height))
    return sizes, None


def _gs_command(source: Path, first: int, last: int, dpi: float) -> list[str]:
    return [
        GHOSTSCRIPT,
        "-q",
        "-dSAFER",
        "-dBATCH",
        "-dNOPAUSE",
        "-dNOPROMPT",
        "-dPDFSTOPONERROR",  # a damaged page fails instead of coming out blank
        "-dUseCropBox",  # Ghostscript clips it to the MediaBox, as viewers do
        "-dTextAlphaBits=4",
        "-dGraphicsAlphaBits=4",
        "-sstdout=%stderr",  # stdout carries the pixels only
        "-sDEVICE=ppmraw",  # 8-bit RGB on white: flattened, no alpha
        f"-r{dpi:.6f}",
        f"-dFirstPage={first}",
        f"-dLastPage={last}",
        "-sOutputFile=-",  # pages follow each other on the pipe, each once fully rendered
        "-f",
        str(source),
    ]


def _render_run(
    source: Path,
    run: list[int],
    sizes: list[Size],
    pages_dir: Path,
    limits: Limits,
    on_page: Callable[[PageResult], None],
    scratch: Path,
) -> None:
    """Renders pages run[0]..run[-1] with one Ghostscript, announcing each once on disk."""
    dpi = _run_dpi(run, sizes, limits)
    # -dSAFER still lets Ghostscript write in its temporary directory: make that a private
    # one, removed after the document.
    env = {**os.environ, "TMPDIR": str(scratch), "TEMP": str(scratch)}
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            _gs_command(source, run[0], run[-1], dpi),
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        )
        pixels: IO[bytes] = proc.stdout  # type: ignore[assignment]  # PIPE: never None
        number = run[0]
        try:
            for number in run:
                expected = pdf_pixels(*sizes[number - 1], limits)
                final = page_path(pages_dir, number)
                tmp = ppm_to_png(pixels, expected, final, limits)
                os.replace(tmp, final)
                on_page(PageResult(number, *expected, final, final.stat().st_size))
        except RendererEnded:
            page_path(pages_dir, number).with_suffix(".png.tmp").unlink(missing_ok=True)
            returncode = _finish(proc, kill=False)
            errors.seek(0)
            _raise_gs_failure(number, returncode, errors.read())
        except BaseException:
            page_path(pages_dir, number).with_suffix(".png.tmp").unlink(missing_ok=True)
            _finish(proc, kill=True)
            raise
        proc.wait()


def _finish(proc: subprocess.Popen[bytes], *, kill: bool) -> int | None:
    """Ends a Ghostscript whose output is no longer read; its own exit status, if it had one."""
    if proc.stdout is not None:
        proc.stdout.close()
    if kill:
        proc.kill()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def _raise_gs_failure(number: int, returncode: int | None, stderr: bytes) -> None:
    text = stderr.decode("utf-8", "replace")
    if returncode == -signal.SIGKILL or any(marker in text for marker in GS_MEMORY_MARKERS):
        raise ConversionError("RESOURCE_LIMIT", f"page {number}: Ghostscript ran out of memory")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if "rror" in line), f"exit status {returncode}")
    raise ConversionError("CORRUPT_FILE", f"page {number} is unreadable: {detail[:200]}")
