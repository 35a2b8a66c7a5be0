"""PDF pages through Ghostscript (`PAGEMILL_PDF_ENGINE=ghostscript`): one Ghostscript per run
of pages of one density, raw PPM pixels on its stdout, each page read into the PNG rows.

Ghostscript runs directly (Debian's ImageMagick policy blocks the PDF coder), with -dSAFER,
from the `%PDF-` header on, at a density computed from each page's size so the page lands
within the box; a page Ghostscript rounds a pixel off (or a sliver it would draw zero pixels
wide) is resized to the exact size.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits, Size, pdf_density, pdf_pixels
from tasks.engine.kinds import PDF_HEADER, PDF_SNIFF_BYTES
from tasks.engine.pages import PageResult, PageTable, page_path
from tasks.engine.png import RowBuffer, write_png
from tasks.engine.ppm import RendererEnded, ppm_to_png
from tasks.engine.scratch import remove_orphans

GHOSTSCRIPT = "gs"
# What Ghostscript says when the address-space cap it inherits is too small for it: its
# own allocator's VMerror, or the loader failing to map a shared library (as libvips' does).
GS_MEMORY_MARKERS = ("VMerror", "failed to map segment", "Cannot allocate memory")
# Longest side Ghostscript draws a sliver page at before it is resized (a 1x14400 pt page is
# drawn 1x14400 pixels, then fitted).
GS_MAX_SIDE = 60_000
SCRATCH_PREFIX = "pagemill-gs-"  # then the pid of the process that made it


def render_pages(
    source: Path,
    numbers: list[int],
    table: PageTable,
    pages_dir: Path,
    limits: Limits,
    on_page: Callable[[PageResult], None],
) -> None:
    """Renders the given pages (1-based) into pages_dir, announcing each once on disk."""
    remove_orphaned_scratch()
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as private:
        scratch = Path(private)
        pdf_source = _from_pdf_header(source, scratch)
        for run in _runs(numbers, table, limits):
            if run[0] in table.blank:
                on_page(_blank_page(run[0], table.sizes, pages_dir, limits))
            else:
                _render_run(pdf_source, run, table.sizes, pages_dir, limits, on_page, scratch)


def remove_orphaned_scratch() -> None:
    """Removes the private directories of conversion processes that were killed mid-document
    (their `with` never ran its cleanup), recognised by the dead pid in the name."""
    remove_orphans(SCRATCH_PREFIX)


def _blank_page(number: int, sizes: list[Size], pages_dir: Path, limits: Limits) -> PageResult:
    """A page that draws nothing, as white: Ghostscript stops on an empty content stream."""
    size = pdf_pixels(*sizes[number - 1], limits)
    rows = RowBuffer.new(*size, channels=3)
    rows.fill(255)
    final = page_path(pages_dir, number)
    tmp = final.with_name(final.name + ".tmp")
    write_png(tmp, rows, limits.png_compression_level)
    os.replace(tmp, final)
    return PageResult(number, *size, final, final.stat().st_size)


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


def _runs(numbers: list[int], table: PageTable, limits: Limits) -> list[list[int]]:
    """Consecutive pages sharing one density: each run is one Ghostscript process, which
    saves re-opening the document per page (most documents are a single run). A blank page
    is a run of its own."""
    runs: list[list[int]] = []
    for number in numbers:
        previous = runs[-1] if runs else None
        if (
            previous is not None
            and previous[-1] == number - 1
            and not {previous[0], number} & table.blank
            and _gs_density(table.sizes[number - 1], limits)
            == _gs_density(table.sizes[previous[0] - 1], limits)
        ):
            previous.append(number)
        else:
            runs.append([number])
    return runs


def _gs_density(size: Size, limits: Limits) -> float:
    """pdf_density, or for a sliver thinner than a pixel at it the density that makes it one
    pixel wide: Ghostscript would render it zero pixels wide. The result is resized."""
    dpi = pdf_density(*size, limits)
    thin = min(size)
    if thin * dpi / 72.0 >= 1.0:
        return dpi
    return min(72.0 / thin, GS_MAX_SIDE * 72.0 / max(size))


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
        "-dPrinted=false",  # annotations as a viewer shows them, not only those marked to print
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
    dpi = _gs_density(sizes[run[0] - 1], limits)
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
