"""The PNG writer: Ghostscript's raw PPM pages deflated into PNG files as they stream in."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import IO

from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits
from tasks.engine.images_wand import resize_ppm
from tasks.engine.kinds import PNG_SIGNATURE

IDAT_CHUNK = 1 << 20


class RendererEnded(Exception):
    """Ghostscript closed its output before the page was complete."""


def read_ppm_header(stream: IO[bytes]) -> tuple[int, int]:
    """Width and height from a binary PPM header (P6, 8-bit); comments allowed."""
    tokens: list[bytes] = []
    token = b""
    while len(tokens) < 4:
        byte = stream.read(1)
        if not byte:
            raise RendererEnded
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


def ppm_to_png(stream: IO[bytes], expected: tuple[int, int], final: Path, limits: Limits) -> Path:
    """Writes the PPM on stream as PNG next to final; returns the temporary path."""
    width, height = read_ppm_header(stream)
    tmp = final.with_name(final.name + ".tmp")
    if (width, height) != expected:
        # Ghostscript's rounding of the page size can differ by a pixel: resize exactly.
        raw = read_exact(stream, width * height * 3)
        resize_ppm(b"P6\n%d %d\n255\n" % (width, height) + raw, expected, tmp, limits)
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
            pending += deflate.compress(b"\0" + read_exact(stream, stride))
            if len(pending) >= IDAT_CHUNK:
                out.write(_chunk(b"IDAT", bytes(pending)))
                pending.clear()
        pending += deflate.flush()
        out.write(_chunk(b"IDAT", bytes(pending)) + _chunk(b"IEND", b""))
        out.flush()
        os.fsync(out.fileno())
    return tmp


def read_exact(stream: IO[bytes], size: int) -> bytes:
    """Exactly size bytes, or RendererEnded."""
    data = stream.read(size)
    if len(data) != size:
        raise RendererEnded
    return data


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
