"""Images through libvips: a PNG or JPEG streamed top to bottom into a PNG that fits the box.

The same contract as the Wand path: the header is checked before any pixel is decoded, the
picture is auto-oriented, made sRGB (grey stays grey, alpha stays), fitted exactly as
`geometry.fit` says and written at 8 bits. Importing this module locks libvips down for the
whole process: only the PNG and JPEG file loaders and the PNG file saver may run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pyvips

from tasks.engine import png
from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits, fit

# Every loader and saver is blocked but these: libvips never picks a decoder by sniffing.
ALLOWED_FOREIGN = ("VipsForeignLoadPngFile", "VipsForeignLoadJpegFile", "VipsForeignSavePngFile")
# EXIF orientations 5-8 are displayed with width and height swapped.
SWAPPED_ORIENTATIONS = frozenset({5, 6, 7, 8})
# Pictures larger than this (in bytes of pixels) are written by libvips' pngsave, which
# streams: holding the fitted picture for pagemill's writer took an 8000x8000 RGBA PNG's
# conversion to 212 MB of RSS, over the 200 MB target, for 20% less CPU.
STREAM_ABOVE = 32 * 1024 * 1024
# `png_filter` as libpng filter flags for pngsave: 0-4 one filter for every row; 5 and up
# let libpng choose per row among all of them.
PNG_FILTERS = {
    0: pyvips.enums.ForeignPngFilter.NONE,
    1: pyvips.enums.ForeignPngFilter.SUB,
    2: pyvips.enums.ForeignPngFilter.UP,
    3: pyvips.enums.ForeignPngFilter.AVG,
    4: pyvips.enums.ForeignPngFilter.PAETH,
}
ROWS_PER_BLOCK = 256  # rows filtered and handed to the deflater at a time
# The ICC profile (the Wand path keeps only it) and libvips' own mark of a streamed image;
# everything else (EXIF with its orientation, XMP, IPTC, PNG text) is not written.
KEPT_FIELDS = frozenset({"icc-profile-data", "vips-sequential"})
# Under the address-space cap libvips fails to allocate, or to start a thread (8 MB stack).
_EXHAUSTED = re.compile(
    r"out of memory|cannot allocate|unable to allocate|error creating thread", re.IGNORECASE
)


def _lock_down() -> None:
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeign", True)
    for name in ALLOWED_FOREIGN:
        pyvips.operation_block_set(name, False)
    pyvips.operation_block_set("VipsSystem", True)  # runs a shell command
    # No operation cache: a process converting one document after another keeps no decoded
    # image and no open file from the last one.
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.cache_set_max_files(0)


_lock_down()


def write_png(
    source: Path, kind: str, size: tuple[int, int], tmp: Path, limits: Limits
) -> tuple[int, int]:
    """Writes source (a "png" or "jpeg" whose header declares size, already checked against
    the limits) as a fitted PNG at tmp; returns the PNG's width and height."""
    target = fit(*size, limits.max_side)  # in stored orientation: fit is symmetric
    try:
        image = _load(source, kind, size, target)
        orientation = _orientation(image)
        image = _oriented(_fitted(_eight_bit(image), target), orientation)
        expected = (target[1], target[0]) if orientation in SWAPPED_ORIENTATIONS else target
        if (image.width, image.height) != expected:
            raise ConversionError(
                "INTERNAL", f"resized to {image.width}x{image.height}, not {expected}"
            )
        _save(_colour_managed(image), tmp, limits)
    except pyvips.Error as exc:
        raise _vips_error(exc) from exc
    return expected


def _load(source: Path, kind: str, size: tuple[int, int], target: tuple[int, int]) -> pyvips.Image:
    if kind == "jpeg":
        # A truncated or damaged JPEG only warns in libjpeg (and comes out grey): fail on
        # warnings, as the Wand path fails on ImageMagick's CorruptImageWarning.
        return pyvips.Image.jpegload(
            str(source),
            shrink=jpeg_shrink(size, target),
            access="sequential",
            fail_on="warning",
        )
    # libpng warns on harmless things (a known-incorrect sRGB profile): fail on errors only.
    return pyvips.Image.pngload(str(source), access="sequential", fail_on="error")


def jpeg_shrink(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The largest libjpeg scale-down (1/8 ... 1/1) that still decodes at or above target;
    libjpeg rounds the scaled size up."""
    for shrink in (8, 4, 2):
        if all(-(-side // shrink) >= want for side, want in zip(size, target, strict=True)):
            return shrink
    return 1


def _orientation(image: pyvips.Image) -> int:
    if not image.get_typeof("orientation"):
        return 1
    value = image.get("orientation")
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _eight_bit(image: pyvips.Image) -> pyvips.Image:
    """16-bit PNGs as 8 bits per channel (before the resize: half the bytes to move)."""
    if image.format == "uchar":
        return image
    space = "b-w" if image.interpretation in ("b-w", "grey16") else "srgb"
    return image.colourspace(space)


def _fitted(image: pyvips.Image, target: tuple[int, int]) -> pyvips.Image:
    if (image.width, image.height) == target:
        return image
    alpha = image.hasalpha()
    if alpha:
        # Resampled premultiplied, or the colour of transparent pixels bleeds into edges.
        image = image.premultiply()
    # Linear (triangle) is the Wand path's filter: area-averaging when shrinking.
    image = image.resize(target[0] / image.width, vscale=target[1] / image.height, kernel="linear")
    if alpha:
        image = image.unpremultiply().cast("uchar")
    return image


def _oriented(image: pyvips.Image, orientation: int) -> pyvips.Image:
    if orientation == 1:
        return image
    # Turning reads the picture out of order: hold the fitted (small) picture in memory
    # rather than the decoded one, which arrives as a stream.
    return image.copy_memory().autorot()


def _colour_managed(image: pyvips.Image) -> pyvips.Image:
    """sRGB (or grey) pixels with only the metadata that still describes them."""
    if image.interpretation == "cmyk":
        # Through the embedded profile, or libvips' own CMYK profile; the CMYK profile no
        # longer describes the pixels.
        image = image.colourspace("srgb")
        drop_icc = True
    else:
        drop_icc = False
    image = image.copy()
    for name in image.get_fields():
        if name not in KEPT_FIELDS or (drop_icc and name == "icc-profile-data"):
            image.remove(name)
    return image


def _save(image: pyvips.Image, tmp: Path, limits: Limits) -> None:
    """The fitted picture through pagemill's PNG writer: ISA-L with the Up filter writes
    about the bytes of pngsave at level 1 with adaptive filters in half the CPU time
    (README, "PNG output")."""
    shape = (image.width, image.height, image.bands)
    if shape[0] * shape[1] * shape[2] > STREAM_ABOVE:
        _pngsave(image, tmp, limits)
        return
    profile = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    kind = limits.png_filter
    if kind in (png.NONE, png.SUB, png.UP):
        blocks = _filtered_blocks(image, kind)
        png.write_png_blocks(tmp, shape, blocks, limits.png_compression_level, profile)
        return
    rows = png.RowBuffer.from_pixels(image.write_to_memory(), *shape)
    png.apply_filter(rows, kind)
    png.write_png(tmp, rows, limits.png_compression_level, profile)


def _pngsave(image: pyvips.Image, tmp: Path, limits: Limits) -> None:
    """libvips' own PNG writer, which streams the rows out as they are computed."""
    image.pngsave(
        str(tmp),
        compression=limits.png_compression_level,
        filter=PNG_FILTERS.get(limits.png_filter, pyvips.enums.ForeignPngFilter.ALL),
        bitdepth=8,
        palette=False,  # RGB(A) or grey, never a palette, like the Wand path
    )
    with tmp.open("rb") as written:
        os.fsync(written.fileno())


def _filtered_blocks(image: pyvips.Image, kind: int) -> Iterator[bytes]:
    """The picture's rows filtered by libvips (None, Sub or Up), each after its filter byte,
    in blocks of rows. The picture is computed once into memory; each block is filtered
    from it on its own, so no second full-size buffer is ever made."""
    width, height, bands = image.width, image.height, image.bands
    pixels = image.write_to_memory()
    whole = pyvips.Image.new_from_memory(pixels, width, height, bands, "uchar")
    line, marker = width * bands, bytes([kind])
    for start in range(0, height, ROWS_PER_BLOCK):
        count = min(ROWS_PER_BLOCK, height - start)
        block = memoryview(_filtered(whole, kind, start, count).write_to_memory())
        yield b"".join(part for y in range(count) for part in (marker, block[y * line :][:line]))


def _filtered(whole: pyvips.Image, kind: int, start: int, count: int) -> pyvips.Image:
    """Rows start..start+count of whole, filtered."""
    rows = whole.crop(0, start, whole.width, count)
    if kind == png.UP and (start > 0 or count > 1):
        # The row above the first, or zeros above the picture's top row (a lone top row is
        # its own filtered value: libvips refuses to embed an image wholly off its canvas).
        top = max(0, start - 1)
        above = whole.crop(0, top, whole.width, count + (start - top))
        return _modulo(rows - above.embed(0, 1 - (start - top), whole.width, count))
    if kind == png.SUB and whole.width > 1:
        # A pixel with nothing left of it is its own filtered value.
        return _modulo(rows - rows.embed(1, 0, whole.width, count))
    return rows


def _modulo(difference: pyvips.Image) -> pyvips.Image:
    """A signed byte difference per band as PNG stores it: modulo 256."""
    return (difference & 255).cast("uchar")


def _vips_error(exc: pyvips.Error) -> ConversionError:
    text = " ".join(str(exc).split())
    if _EXHAUSTED.search(text):
        return ConversionError("RESOURCE_LIMIT", f"out of memory decoding the image: {text}")
    if "is blocked" in text:
        return ConversionError("UNSUPPORTED_FORMAT", f"format not allowed: {text}")
    return ConversionError("CORRUPT_FILE", f"image unreadable: {text}")
