"""The EXIF orientation a PNG declares in its eXIf chunk, which ImageMagick 6 ignores (libvips
and browsers apply it)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

ORIENTATION_TAG = 0x0112
SHORT = 3
MAX_EXIF_BYTES = 1 << 20  # orientation sits in the first directory, near the start
PIXELS_OR_END = (b"IDAT", b"IEND")  # eXIf counts only before the pixels


def png_orientation(source: Path) -> int:
    """Orientation 1-8 from the eXIf chunk; 1 when there is none or it cannot be read."""
    with source.open("rb") as handle:
        handle.seek(8)  # the signature
        while len(head := handle.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind in PIXELS_OR_END:
                break
            if kind == b"eXIf":
                return tiff_orientation(handle.read(min(length, MAX_EXIF_BYTES)))
            handle.seek(length + 4, os.SEEK_CUR)  # data and CRC
    return 1


def tiff_orientation(tiff: bytes) -> int:
    """Orientation 1-8 from EXIF's TIFF structure (its first directory); 1 when absent."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    (directory,) = struct.unpack(order + "I", tiff[4:8])
    if directory + 2 > len(tiff):
        return 1
    (entries,) = struct.unpack(order + "H", tiff[directory : directory + 2])
    for start in range(directory + 2, min(len(tiff) - 11, directory + 2 + 12 * entries), 12):
        tag, kind, _count, value = struct.unpack(order + "HHIH", tiff[start : start + 10])
        if tag == ORIENTATION_TAG and kind == SHORT:
            return value if 1 <= value <= 8 else 1
    return 1
