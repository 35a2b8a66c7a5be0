"""Raw PPM pages as Ghostscript writes them on a pipe, read straight into PNG rows; a page a
pixel off its expected size is resized to it exactly (an area average, in numpy)."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from tasks.engine.errors import ConversionError
from tasks.engine.geometry import Limits
from tasks.engine.png import RowBuffer, apply_filter, write_png


class RendererEnded(Exception):
    """The renderer closed its output before the page was complete."""


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
        # Ghostscript's rounding of the page size can differ by a pixel, and a sliver page
        # is drawn wider than it is shown (_gs_density): resize to the exact size.
        raw = _read_exact(stream, width * height * 3)
        rows = RowBuffer.new(*expected, channels=3)
        rows.pixels()[:] = _resized(raw, (width, height), expected)
    else:
        rows = RowBuffer.new(width, height, channels=3)
        view = memoryview(rows.writable)
        for y in range(height):
            start = y * rows.stride + 1
            _fill(stream, view[start : start + rows.stride - 1])
    apply_filter(rows, limits.pdf_png_filter)
    write_png(tmp, rows, limits.png_compression_level)
    return tmp


def _resized(raw: bytes, size: tuple[int, int], target: tuple[int, int]) -> Any:
    """RGB pixels of `size` averaged (or repeated) onto `target`, as (height, width*3)."""
    import numpy as np

    pixels = np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3).astype(np.uint32)
    for axis, (old, new) in enumerate(((size[1], target[1]), (size[0], target[0]))):
        starts = np.arange(new) * old // new
        counts = np.maximum(np.diff(np.append(starts, old)), 1)
        summed = np.add.reduceat(pixels, starts, axis=axis)
        shape = [1, 1, 1]
        shape[axis] = new
        pixels = summed // counts.reshape(shape)
    return pixels.astype(np.uint8).reshape(target[1], target[0] * 3)


def _fill(stream: IO[bytes], view: memoryview) -> None:
    """Reads exactly len(view) bytes from stream into view."""
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled:])  # type: ignore[attr-defined]
        if not got:
            raise RendererEnded
        filled += got


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise RendererEnded
    return data
