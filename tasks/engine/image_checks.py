"""Checks on an image before any decoder runs: the size its header declares, a complete JPEG."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import IO

from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits

# Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# ImageMagick's width/height resource limit (Debian's policy and ours: 16KP), which no
# setting can raise; Wand reports hitting it only as an unexplained ping failure.
MAGICK_MAX_SIDE = 16_000
JPEG_TAIL = 64 * 1024  # trailing junk after the end marker is common but short


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
