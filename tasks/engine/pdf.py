"""Pure conversion: sniff a file by its bytes and turn it into PNG pages that fit a box.

PDF pages are rasterised one at a time by Ghostscript (Debian's ImageMagick policy blocks
the PDF coder) straight to raw pixels, which are deflated into the PNG here; images go
through libvips (tasks.vips_images) or Wand, as `Limits.image_engine` says. No database,
no Redis, no asyncio.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tasks.pdfinfo import PdfDocument

# Wand, pyvips and pikepdf are imported where they are needed, never at module level: the
# conversion child must set the libraries' limits first, then calls warm_up() once.

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "zip": "application/zip",
}
EXTENSIONS = {"pdf": "pdf", "png": "png", "jpeg": "jpg", "zip": "zip"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PDF_SNIFF_BYTES = 1024  # Acrobat accepts %PDF- anywhere in the first 1024 bytes
PDF_HEADER = b"%PDF-"
# PostScript and DOS EPS: Ghostscript would run such a file as a program, whatever follows.
POSTSCRIPT_MAGIC = (b"%!", b"\xc5\xd0\xd3\xc6")
GHOSTSCRIPT = "gs"
# What Ghostscript says when the address-space cap it inherits is too small for it: its
# own allocator's VMerror, or the loader failing to map a shared library (as libvips' does).
GS_MEMORY_MARKERS = ("VMerror", "failed to map segment", "Cannot allocate memory")
IDAT_CHUNK = 1 << 20
# EXIF orientations 5-8 are displayed with width and height swapped.
SWAPPED_ORIENTATIONS = {"left_top", "right_top", "right_bottom", "left_bottom"}
# Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# ImageMagick's width/height resource limit (Debian's policy and ours: 16KP), which no
# setting can raise; Wand reports hitting it only as an unexplained ping failure.
MAGICK_MAX_SIDE = 16_000
JPEG_TAIL = 64 * 1024  # trailing junk after the end marker is common but short


Size = tuple[float, float]
ImageEngine = Literal["vips", "wand"]


class ConversionError(Exception):
    """A typed failure; `code` is one of ErrorCode's values."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What a conversion may produce and accept."""

    max_side: int = 3500
    max_density: int = 300
    max_pixels: int = 200_000_000
    max_image_side: int = 50_000
    max_pages: int = 2000
    max_page_points: float = 14_400.0
    png_compression_level: int = 1
    png_filter: int = 5
    image_engine: ImageEngine = "vips"


@dataclass(frozen=True)
class PageResult:
    """A page on disk."""

    number: int
    width: int
    height: int
    path: Path
    size_bytes: int


def sniff(head: bytes) -> str | None:
    """The kind of a file from its first bytes: "pdf", "png", "jpeg", "zip" or None."""
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(POSTSCRIPT_MAGIC):
        return None  # a PostScript/PDF polyglot is PostScript to Ghostscript
    if PDF_HEADER in head[:PDF_SNIFF_BYTES]:
        return "pdf"
    return None


def warm_up(image_engine: str = "vips") -> None:
    """Import the libraries conversions use (~1 s of CPU), so that no document pays."""
    import wand.image  # noqa: F401  (always: PDF pages a pixel off are resized with it)

    import tasks.pdfinfo  # noqa: F401  (pikepdf)

    if image_engine == "vips":
        import tasks.vips_images  # noqa: F401


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """The largest size within box x box with the aspect of width x height, never larger."""
    if width <= box and height <= box:
        return width, height
    scale = box / max(width, height)
    fitted = (max(1, _round(width * scale)), max(1, _round(height * scale)))
    return min(fitted[0], box), min(fitted[1], box)


def pdf_density(width_pt: float, height_pt: float, limits: Limits) -> float:
    """Dots per inch that make a page of this size land within the box, capped."""
    return min(float(limits.max_density), limits.max_side * 72.0 / max(width_pt, height_pt))


def pdf_pixels(width_pt: float, height_pt: float, limits: Limits) -> tuple[int, int]:
    """The pixel size of a page rendered at pdf_density (Ghostscript rounds to nearest)."""
    dpi = pdf_density(width_pt, height_pt, limits)
    size = (_round(width_pt * dpi / 72.0), _round(height_pt * dpi / 72.0))
    return max(1, min(size[0], limits.max_side)), max(1, min(size[1], limits.max_side))


def convert(
    source: Path,
    kind: str,
    pages_dir: Path,
    limits: Limits,
    skip: Callable[[int], bool],
    on_count: Callable[[int], None],
    on_page: Callable[[PageResult], None],
) -> int:
    """Renders source into pages_dir/0001.png...; returns the page count."""
    with source.open("rb") as handle:
        sniffed = sniff(handle.read(PDF_SNIFF_BYTES))
    if sniffed not in ("pdf", "png", "jpeg"):
        raise ConversionError("UNSUPPORTED_FORMAT", f"not a PDF, PNG or JPEG (given as {kind})")
    pages_dir.mkdir(parents=True, exist_ok=True)
    for stale in pages_dir.glob("*.tmp"):  # left by a killed attempt
        stale.unlink(missing_ok=True)
    if sniffed == "pdf":
        return _convert_pdf(source, pages_dir, limits, skip, on_count, on_page)
    on_count(1)
    if not (skip(1) and page_path(pages_dir, 1).exists()):
        on_page(_convert_image(source, sniffed, pages_dir, limits))
    return 1


def page_path(pages_dir: Path, number: int) -> Path:
    """Where page `number` lives."""
    return pages_dir / f"{number:04d}.png"


def _round(value: float) -> int:
    return math.floor(value + 0.5)


# PDF ------------------------------------------------------------------------------------


def _convert_pdf(
    source: Path,
    pages_dir: Path,
    limits: Limits,
    skip: Callable[[int], bool],
    on_count: Callable[[int], None],
    on_page: Callable[[PageResult], None],
) -> int:
    from tasks.pdfinfo import PasswordRequired, UnreadablePdf, open_pdf

    try:
        with open_pdf(source) as pdf:
            declared = pdf.declared_page_count
            if declared is not None and declared > limits.max_pages:
                # Checked before qpdf walks the page tree, which takes seconds for 100k pages.
                raise ConversionError(
                    "TOO_LARGE",
                    f"the page tree declares {declared} pages, "
                    f"more than the limit of {limits.max_pages}",
                )
            count = pdf.page_count
            if count < 1:
                raise ConversionError("CORRUPT_FILE", "the PDF has no pages")
            if count > limits.max_pages:
                raise ConversionError(
                    "TOO_LARGE", f"{count} pages, more than the limit of {limits.max_pages}"
                )
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
    from tasks.pdfinfo import UnreadablePdf

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
                tmp = _ppm_to_png(pixels, expected, final, limits)
                os.replace(tmp, final)
                on_page(PageResult(number, *expected, final, final.stat().st_size))
        except _RendererEnded:
            page_path(pages_dir, number).with_suffix(".png.tmp").unlink(missing_ok=True)
            returncode = _finish(proc, kill=False)
            errors.seek(0)
            _raise_gs_failure(number, returncode, errors.read())
        except BaseException:
            page_path(pages_dir, number).with_suffix(".png.tmp").unlink(missing_ok=True)
            _finish(proc, kill=True)
            raise
        proc.wait()


class _RendererEnded(Exception):
    """Ghostscript closed its output before the page was complete."""


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


def _read_ppm_header(stream: IO[bytes]) -> tuple[int, int]:
    """Width and height from a binary PPM header (P6, 8-bit); comments allowed."""
    tokens: list[bytes] = []
    token = b""
    while len(tokens) < 4:
        byte = stream.read(1)
        if not byte:
            raise _RendererEnded
        if byte == b"#" and not token:
            while byte not in (b"\n", b""):
                byte = stream.read(1)
        elif byte.isspace():
            if token:
                tokens.append(token)
                token = b""
        else:
            token += byte
    if tokens[0] != b"P6" or tokens[3] != b"255":
        raise ConversionError("CORRUPT_FILE", "unexpected renderer output")
    return int(tokens[1]), int(tokens[2])


def _ppm_to_png(stream: IO[bytes], expected: tuple[int, int], final: Path, limits: Limits) -> Path:
    """Writes the PPM on stream as PNG next to final; returns the temporary path."""
    width, height = _read_ppm_header(stream)
    tmp = final.with_name(final.name + ".tmp")
    if (width, height) != expected:
        # Ghostscript's rounding of the page size can differ by a pixel: resize exactly.
        from wand.image import Image

        raw = _read_exact(stream, width * height * 3)
        blob = b"P6\n%d %d\n255\n" % (width, height) + raw
        with Image(blob=blob, format="ppm") as img:
            img.resize(*expected)
            _save_png(img, tmp, limits)
        return tmp
    stride = width * 3
    deflate = zlib.compressobj(limits.png_compression_level)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with tmp.open("wb") as out:
        out.write(PNG_SIGNATURE + _chunk(b"IHDR", ihdr))
        pending = bytearray()
        for _ in range(height):
            # Filter type 0 per row: adaptive filtering in Python would cost more than
            # it saves on mostly flat rendered pages.
            pending += deflate.compress(b"\0" + _read_exact(stream, stride))
            if len(pending) >= IDAT_CHUNK:
                out.write(_chunk(b"IDAT", bytes(pending)))
                pending.clear()
        pending += deflate.flush()
        out.write(_chunk(b"IDAT", bytes(pending)) + _chunk(b"IEND", b""))
        out.flush()
        os.fsync(out.fileno())
    return tmp


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise _RendererEnded
    return data


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


# Images ---------------------------------------------------------------------------------


def _convert_image(source: Path, kind: str, pages_dir: Path, limits: Limits) -> PageResult:
    # Checked before either engine's library is even loaded.
    size = header_size(source, kind)
    check_image_size(*size, limits)
    if kind == "jpeg":
        check_jpeg_complete(source)
    final = page_path(pages_dir, 1)
    tmp = final.with_name(final.name + ".tmp")
    write = _write_with_vips if limits.image_engine == "vips" else _write_with_wand
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
        from tasks.vips_images import write_png
    except OSError as exc:
        # Loading libvips and its ~100 libraries fails first under a small address-space cap.
        if any(marker in str(exc) for marker in GS_MEMORY_MARKERS):
            raise ConversionError("RESOURCE_LIMIT", f"no memory to load libvips: {exc}") from exc
        raise
    return write_png(source, kind, size, tmp, limits)


def _write_with_wand(
    source: Path, coder: str, size: tuple[int, int], tmp: Path, limits: Limits
) -> tuple[int, int]:
    from wand.exceptions import CorruptImageWarning, WandException

    try:
        with warnings.catch_warnings():
            # A truncated JPEG only warns and comes out half grey: treat it as corrupt.
            warnings.simplefilter("error", CorruptImageWarning)
            return _write_image(source, coder, size, tmp, limits)
    except (WandException, CorruptImageWarning, MemoryError) as exc:
        raise _wand_error(exc) from exc


def _write_image(
    source: Path, coder: str, size: tuple[int, int], tmp: Path, limits: Limits
) -> tuple[int, int]:
    from wand.image import Image

    raw_width, raw_height = size
    orientation = _orientation(source, coder)
    swapped = orientation in SWAPPED_ORIENTATIONS
    shown = (raw_height, raw_width) if swapped else (raw_width, raw_height)
    target = fit(*shown, limits.max_side)
    with Image() as img:
        if coder == "jpeg" and target != shown:
            # libjpeg then decodes at the smallest 1/N scale still at or above the target;
            # set only when shrinking, or a small JPEG is upscaled to the hint.
            hint = (target[1], target[0]) if swapped else target
            img.options["jpeg:size"] = f"{hint[0]}x{hint[1]}"
        img.read(filename=f"{coder}:{source}")
        img.raise_exception()  # Wand drops read warnings unless asked for them
        if len(img.sequence) > 1:
            del img.sequence[1:]
        img.orientation = orientation  # a PNG's eXIf orientation is left undefined
        img.auto_orient()
        _to_srgb(img)
        if (img.width, img.height) != target:
            # Triangle (area-averaging when shrinking) is ~40% faster than the default
            # Lanczos on photos, with no visible difference at these ratios.
            img.resize(*target, filter="triangle")
        img.depth = 8
        _save_png(img, tmp, limits)
        return target


def _orientation(source: Path, coder: str) -> str:
    """ImageMagick's name for the EXIF orientation, read without decoding a pixel."""
    from wand.image import ORIENTATION_TYPES, Image

    from tasks.exif import png_orientation

    with Image.ping(filename=f"{coder}:{source}") as probe:
        found: str = probe.orientation
    if coder == "png" and found == "undefined":
        found = ORIENTATION_TYPES[png_orientation(source)]
    return found


def check_image_size(width: int, height: int, limits: Limits) -> None:
    """TOO_LARGE (or CORRUPT_FILE for no pixels) from the declared size alone."""
    if width * height > limits.max_pixels:
        raise ConversionError(
            "TOO_LARGE",
            f"image is {width}x{height} = {width * height} pixels, "
            f"more than the limit of {limits.max_pixels}",
        )
    side = min(limits.max_image_side, MAGICK_MAX_SIDE)
    if max(width, height) > side:
        raise ConversionError(
            "TOO_LARGE", f"image is {width}x{height}, a side over the limit of {side}"
        )
    if width < 1 or height < 1:
        raise ConversionError("CORRUPT_FILE", "image has no pixels")


def header_size(source: Path, coder: str) -> tuple[int, int]:
    """Width and height declared by a PNG or JPEG header, read without a decoder."""
    with source.open("rb") as handle:
        if coder == "png":
            head = handle.read(24)
            if len(head) < 24 or head[12:16] != b"IHDR":
                raise ConversionError("CORRUPT_FILE", "PNG without a header")
            width, height = struct.unpack(">II", head[16:24])
            return int(width), int(height)
        return _jpeg_size(handle)


def _jpeg_size(handle: IO[bytes]) -> tuple[int, int]:
    handle.read(2)
    while True:
        marker = handle.read(2)
        while marker[:1] == b"\xff" and marker[1:] == b"\xff":  # fill bytes
            marker = marker[1:] + handle.read(1)
        length_bytes = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or len(length_bytes) < 2:
            raise ConversionError("CORRUPT_FILE", "JPEG without a frame header")
        (length,) = struct.unpack(">H", length_bytes)
        if marker[1] in SOF_MARKERS:
            frame = handle.read(5)
            if len(frame) < 5:
                break
            height, width = struct.unpack(">HH", frame[1:5])
            return int(width), int(height)
        handle.seek(length - 2, os.SEEK_CUR)
    raise ConversionError("CORRUPT_FILE", "JPEG without a frame header")


def check_jpeg_complete(source: Path) -> None:
    """A JPEG cut short only warns in libjpeg (and comes out grey): demand the end marker."""
    with source.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - JPEG_TAIL))
        tail = handle.read()
    if b"\xff\xd9" not in tail:
        raise ConversionError("CORRUPT_FILE", "JPEG is truncated (no end-of-image marker)")


def _to_srgb(img: Any) -> None:
    """Colour images become sRGB (CMYK included); grey stays grey."""
    space = img.colorspace
    if space == "cmyk":
        img.transform_colorspace("srgb")
        img.strip()  # the CMYK profile no longer describes the pixels
    elif space not in ("srgb", "gray", "rgb"):
        img.transform_colorspace("srgb")
    for name in ("exif", "xmp", "iptc", "8bim"):  # orientation is applied; keep only ICC
        if name in img.profiles:
            del img.profiles[name]


def _save_png(img: Any, tmp: Path, limits: Limits) -> None:
    # ImageMagick 6 reads PNG quality as zlib level * 10 + filter (5: adaptive).
    img.compression_quality = limits.png_compression_level * 10 + limits.png_filter
    # Otherwise ImageMagick may pick a palette or grey for few-colour images, drop an opaque
    # alpha or write fewer bits: every colour input comes out RGB (or RGBA), every grey one
    # grey (or grey and alpha), at 8 bits.
    if img.colorspace == "gray":
        img.options["png:color-type"] = "4" if img.alpha_channel else "0"
    else:
        img.options["png:color-type"] = "6" if img.alpha_channel else "2"
    img.options["png:bit-depth"] = "8"
    img.save(filename=f"png:{tmp}")
    with tmp.open("rb") as written:
        os.fsync(written.fileno())


_TOO_LARGE = re.compile(r"width or height exceeds limit|too many pixels", re.IGNORECASE)
_EXHAUSTED = re.compile(r"cache resources exhausted|memory allocation failed", re.IGNORECASE)


def _wand_error(exc: BaseException) -> ConversionError:
    from wand.exceptions import CacheError, PolicyError, ResourceLimitError

    text = str(exc)
    if isinstance(exc, MemoryError) or _EXHAUSTED.search(text):
        return ConversionError("RESOURCE_LIMIT", f"out of memory decoding the image: {text}")
    if isinstance(exc, ResourceLimitError | CacheError) and _TOO_LARGE.search(text):
        return ConversionError("TOO_LARGE", f"image exceeds a size limit: {text}")
    if isinstance(exc, ResourceLimitError | CacheError):
        return ConversionError("RESOURCE_LIMIT", f"resource limit hit: {text}")
    if isinstance(exc, PolicyError):
        return ConversionError("UNSUPPORTED_FORMAT", f"format not allowed: {text}")
    return ConversionError("CORRUPT_FILE", f"image unreadable: {text}")
