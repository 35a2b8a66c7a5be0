"""The PNG writer: every filter, level and channel count decodes to the same pixels."""

from __future__ import annotations

import io
import random
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from tasks.engine.png import ADAPTIVE, RowBuffer, apply_filter, write_png

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def picture(width: int, height: int, channels: int) -> bytes:
    """Gradients with noise: every filter type is the best choice for some rows."""
    rng = random.Random(width * height * channels)
    out = bytearray()
    for y in range(height):
        for x in range(width):
            base = (x * 7 + y * 3) % 256
            out += bytes((base + c * 40 + rng.randrange(4)) % 256 for c in range(channels))
    return bytes(out)


def row_filters(path: Path, rows: RowBuffer) -> set[int]:
    data = path.read_bytes()
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    raw = zlib.decompress(data[start : start + length])
    return {raw[y * rows.stride] for y in range(rows.height)}


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4, ADAPTIVE])
def test_every_filter_decodes_to_the_same_pixels(tmp_path: Path, channels: int, kind: int) -> None:
    pixels = picture(37, 150, channels)
    rows = RowBuffer.from_pixels(pixels, 37, 150, channels)
    apply_filter(rows, kind)
    path = tmp_path / "out.png"
    size = write_png(path, rows, level=1)
    assert path.stat().st_size == size
    with Image.open(path) as image:
        assert image.mode == MODES[channels]
        assert image.size == (37, 150)
        assert image.tobytes() == pixels
    if kind != ADAPTIVE:
        assert row_filters(path, rows) == {kind}
    else:
        assert len(row_filters(path, rows)) > 1


@pytest.mark.parametrize("level", [0, 1, 2, 3, 6, 9])
def test_every_level_writes_valid_deflate(tmp_path: Path, level: int) -> None:
    pixels = picture(64, 16, 3)
    rows = RowBuffer.from_pixels(pixels, 64, 16, 3)
    write_png(tmp_path / "out.png", rows, level=level)
    with Image.open(tmp_path / "out.png") as image:
        assert image.tobytes() == pixels


def test_higher_levels_make_smaller_files(tmp_path: Path) -> None:
    rows = RowBuffer.from_pixels(picture(200, 100, 3), 200, 100, 3)
    fast = write_png(tmp_path / "fast.png", rows, level=1)
    tight = write_png(tmp_path / "tight.png", rows, level=9)
    assert tight < fast


def test_icc_profile_is_written(tmp_path: Path) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rows = RowBuffer.from_pixels(picture(8, 8, 3), 8, 8, 3)
    write_png(tmp_path / "out.png", rows, level=1, icc_profile=profile)
    with Image.open(tmp_path / "out.png") as image:
        assert image.info["icc_profile"] == profile


def test_a_one_pixel_wide_page_is_a_page(tmp_path: Path) -> None:
    rows = RowBuffer.new(1, 3500, 3)
    rows.fill(255)
    write_png(tmp_path / "out.png", rows, level=1)
    with Image.open(io.BytesIO((tmp_path / "out.png").read_bytes())) as image:
        assert image.size == (1, 3500)
        assert image.getpixel((0, 3499)) == (255, 255, 255)
