"""A PNG's eXIf orientation, read for the Wand engine (ImageMagick 6 ignores the chunk)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tasks.engine.exif import png_orientation, tiff_orientation
from tests.fixtures.make import png_chunk

SIGNATURE = b"\x89PNG\r\n\x1a\n"
IHDR = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
IDAT = png_chunk(b"IDAT", b"x\x9cc\x00\x00\x00\x01\x00\x01")


def tiff(orientation: int, order: str = "<", kind: int = 3) -> bytes:
    """EXIF's TIFF structure with one directory holding an orientation tag (and another)."""
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    entries = struct.pack(order + "HHIHH", 0x010F, 2, 4, 0, 0)  # Make, ignored
    entries += struct.pack(order + "HHIHH", 0x0112, kind, 1, orientation, 0)
    return magic + struct.pack(order + "IH", 8, 2) + entries + struct.pack(order + "I", 0)


def png(tmp_path: Path, *chunks: bytes) -> Path:
    path = tmp_path / "image.png"
    path.write_bytes(SIGNATURE + IHDR + b"".join(chunks) + png_chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_read_in_either_byte_order(
    tmp_path: Path, order: str, orientation: int
) -> None:
    source = png(tmp_path, png_chunk(b"eXIf", tiff(orientation, order)), IDAT)
    assert png_orientation(source) == orientation


@pytest.mark.parametrize(
    "chunks",
    [
        (IDAT,),  # no eXIf
        (IDAT, png_chunk(b"eXIf", tiff(6))),  # after the pixels: not applied
        (png_chunk(b"eXIf", tiff(9)), IDAT),  # out of range
        (png_chunk(b"eXIf", tiff(6, kind=4)), IDAT),  # not a SHORT
        (png_chunk(b"eXIf", tiff(6)[:20]), IDAT),  # cut inside the directory
        (png_chunk(b"eXIf", b"junk"), IDAT),
    ],
)
def test_missing_or_unreadable_orientation_is_upright(
    tmp_path: Path, chunks: tuple[bytes, ...]
) -> None:
    assert png_orientation(png(tmp_path, *chunks)) == 1


def test_a_directory_offset_past_the_end_is_upright() -> None:
    assert tiff_orientation(b"II*\x00" + struct.pack("<I", 1_000_000)) == 1
