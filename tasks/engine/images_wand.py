"""Images through Wand (ImageMagick): a PNG or JPEG read with an explicit coder, written as a
fitted PNG."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

from tasks.engine.errors import ConversionError
from tasks.engine.exif import png_orientation
from tasks.engine.geometry import Limits, fit

# EXIF orientations 5-8 are displayed with width and height swapped.
SWAPPED_ORIENTATIONS = {"left_top", "right_top", "right_bottom", "left_bottom"}
_TOO_LARGE = re.compile(r"width or height exceeds limit|too many pixels", re.IGNORECASE)
_EXHAUSTED = re.compile(r"cache resources exhausted|memory allocation failed", re.IGNORECASE)


def write_png(
    source: Path, coder: str, size: tuple[int, int], tmp: Path, limits: Limits
) -> tuple[int, int]:
    """Writes source (a "png" or "jpeg" whose header declares size) as a fitted PNG at tmp;
    returns the PNG's width and height."""
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

    with Image.ping(filename=f"{coder}:{source}") as probe:
        found: str = probe.orientation
    if coder == "png" and found == "undefined":
        found = ORIENTATION_TYPES[png_orientation(source)]
    return found


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
