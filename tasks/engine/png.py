"""The PNG writer for every page pagemill encodes itself: 8-bit rows, row filters with numpy,
deflate with ISA-L.

Rows live in one buffer laid out as the PNG stream wants them: each row is one filter-type
byte followed by the pixels (`RowBuffer`), so a renderer can draw straight into it and an
unfiltered page is deflated without a copy. Measured on rendered pages and photos (README,
"PNG output"): ISA-L's levels 1-2 deflate 5-7x faster than zlib's level 1 for 5-10% larger
files; the Up filter shrinks photos and illustrations by 30-60% and rendered pages by ~4%.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isal import isal_zlib

if TYPE_CHECKING:
    import numpy as np

# numpy is imported only where rows are filtered or resized: it adds ~80 MB of address
# space (OpenBLAS) to a child whose cap is counted in address space, and unfiltered pages
# (the default for PDF pages) never need it.

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types by channel count: grey, grey + alpha, RGB, RGBA.
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
ISAL_MAX_LEVEL = 3  # isal_zlib accepts 0-3; higher levels are zlib's own
NONE, SUB, UP, AVERAGE, PAETH = range(5)
ADAPTIVE = 5  # libpng's per-row choice among the five, by the sum of absolute differences
FILTER_BAND = 64  # rows filtered at a time


@dataclass
class RowBuffer:
    """height rows of width pixels of `channels` bytes, each row after its filter byte."""

    width: int
    height: int
    channels: int
    data: bytearray | bytes  # bytes: made elsewhere, read only

    @classmethod
    def new(cls, width: int, height: int, channels: int) -> RowBuffer:
        """A zeroed buffer: every filter byte says "None"."""
        return cls(width, height, channels, bytearray(height * (width * channels + 1)))

    @property
    def writable(self) -> bytearray:
        """The buffer, for code that fills it."""
        if not isinstance(self.data, bytearray):
            self.data = bytearray(self.data)
        return self.data

    @classmethod
    def from_pixels(cls, pixels: bytes, width: int, height: int, channels: int) -> RowBuffer:
        """The rows of packed 8-bit pixels (no padding between rows)."""
        rows = cls.new(width, height, channels)
        line = width * channels
        for y in range(height):
            start = y * (line + 1) + 1
            rows.writable[start : start + line] = pixels[y * line : (y + 1) * line]
        return rows

    @property
    def stride(self) -> int:
        """Bytes from one row's filter byte to the next's."""
        return self.width * self.channels + 1

    def grid(self) -> np.ndarray:
        """The whole buffer as a (height, stride) array (a view, not a copy)."""
        import numpy as np

        return np.frombuffer(self.writable, np.uint8).reshape(self.height, self.stride)

    def pixels(self) -> np.ndarray:
        """The pixel bytes of every row, without the filter bytes (a view)."""
        return self.grid()[:, 1:]

    def fill(self, value: int) -> None:
        """Sets every pixel byte to value (the filter bytes stay)."""
        line = bytes([value]) * (self.stride - 1)
        for y in range(self.height):
            start = y * self.stride + 1
            self.writable[start : start + len(line)] = line


def apply_filter(rows: RowBuffer, kind: int) -> None:
    """Filters every row in place with one PNG filter type (0-4) or the adaptive choice (5).

    Bands of rows are filtered from the bottom up, each from a copy of itself and the row
    above (still unfiltered): the temporaries stay a few MB whatever the page size."""
    if kind == NONE or rows.height == 0:
        return
    import numpy as np

    grid = rows.grid()
    pixels = grid[:, 1:]
    for end in range(rows.height, 0, -FILTER_BAND):
        start = max(0, end - FILTER_BAND)
        above = pixels[start - 1 : start] if start else np.zeros_like(pixels[:1])
        raw = np.concatenate((above, pixels[start:end]))
        if kind == ADAPTIVE:
            _adaptive(raw, grid[start:end], rows.channels)
        else:
            grid[start:end, 0] = kind
            grid[start:end, 1:] = _filtered(raw, kind, rows.channels)


def _filtered(raw: np.ndarray, kind: int, bpp: int) -> np.ndarray:
    """The rows of raw after its first (the row above, unfiltered), filtered with one filter
    type: byte arithmetic modulo 256 (PNG spec, 9.2)."""
    import numpy as np

    this, up = raw[1:], raw[:-1]
    left = np.zeros_like(this)
    left[:, bpp:] = this[:, :-bpp]
    if kind == SUB:
        filtered: np.ndarray = this - left
    elif kind == UP:
        filtered = this - up
    elif kind == AVERAGE:
        filtered = this - ((left.astype(np.uint16) + up) >> 1).astype(np.uint8)
    else:
        up_left = np.zeros_like(this)
        up_left[:, bpp:] = up[:, :-bpp]
        filtered = this - _paeth(left, up, up_left)
    return filtered


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    import numpy as np

    a16, b16, c16 = (x.astype(np.int16) for x in (a, b, c))
    p = a16 + b16 - c16
    pa, pb, pc = np.abs(p - a16), np.abs(p - b16), np.abs(p - c16)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _adaptive(raw: np.ndarray, grid: np.ndarray, bpp: int) -> None:
    import numpy as np

    best_cost = np.full(grid.shape[0], np.iinfo(np.int64).max)
    for kind in (NONE, SUB, UP, AVERAGE, PAETH):
        candidate = raw[1:] if kind == NONE else _filtered(raw, kind, bpp)
        # libpng's heuristic: bytes read as signed, the smallest sum of magnitudes wins.
        cost = np.abs(candidate.view(np.int8).astype(np.int16)).sum(axis=1)
        better = cost < best_cost
        best_cost[better] = cost[better]
        grid[better, 0] = kind
        grid[better, 1:] = candidate[better]


def write_png(path: Path, rows: RowBuffer, level: int, icc_profile: bytes | None = None) -> int:
    """Writes rows (already filtered) as an 8-bit PNG at path, synced; returns its size."""
    shape = (rows.width, rows.height, rows.channels)
    return write_png_blocks(path, shape, [rows.data], level, icc_profile)


def write_png_blocks(
    path: Path,
    shape: tuple[int, int, int],
    blocks: Iterable[bytes | bytearray | memoryview],
    level: int,
    icc_profile: bytes | None = None,
) -> int:
    """Writes an 8-bit PNG of shape (width, height, channels) whose filtered rows, each after
    its filter byte, come in blocks; synced; returns its size."""
    width, height, channels = shape
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    deflater = _deflater(level)
    size = 0
    with path.open("wb") as out:
        size += out.write(SIGNATURE + _chunk(b"IHDR", header))
        if icc_profile:
            size += out.write(_chunk(b"iCCP", b"icc\0\0" + zlib.compress(icc_profile)))
        for block in blocks:
            if compressed := deflater.compress(block):
                size += out.write(_chunk(b"IDAT", compressed))
        size += out.write(_chunk(b"IDAT", deflater.flush()) + _chunk(b"IEND", b""))
        out.flush()
        os.fsync(out.fileno())
    return size


def _deflater(level: int) -> Any:
    """A zlib-format compressor: ISA-L for levels 0-3 (its own fast levels), zlib for 4-9."""
    if level <= ISAL_MAX_LEVEL:
        return isal_zlib.compressobj(max(0, level))
    return zlib.compressobj(min(level, 9))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
