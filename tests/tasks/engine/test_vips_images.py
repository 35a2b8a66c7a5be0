"""What only the libvips engine has: its locked-down loaders, shrink-on-load, exact PNG
filters, nothing held between documents, and decode errors libjpeg only warns about."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips
from PIL import Image

from tasks.engine import images_vips as vips_images  # locks libvips down for this process
from tasks.engine.geometry import ImageEngine, Limits
from tests.tasks.engine.test_engine import failure, png_row_filters, render


def blocked_calls(files: dict[str, Path], marker: Path) -> dict[str, Callable[[], object]]:
    """libvips entry points a hostile file could reach if this process ever used them."""
    image = pyvips.Image.black(4, 4)
    return {
        "sniffed TIFF": lambda: pyvips.Image.new_from_file(str(files["tiff"])),
        "svgload": lambda: pyvips.Image.svgload(str(files["svg"])),
        "magickload": lambda: pyvips.Operation.call("magickload", str(files["mvg"])),
        "webpload": lambda: pyvips.Image.webpload(str(files["webp"])),
        "pngload_buffer": lambda: pyvips.Image.new_from_buffer(files["gray_png"].read_bytes(), ""),
        "thumbnail": lambda: pyvips.Image.thumbnail(str(files["tiff"]), 10),
        "matrixload": lambda: pyvips.Image.matrixload("/etc/passwd"),
        "jpegsave": lambda: image.jpegsave(str(marker.with_suffix(".jpg"))),
        "system": lambda: pyvips.Operation.call("system", f"touch {marker}"),
    }


def test_only_the_png_and_jpeg_file_loaders_and_the_png_saver_run(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    marker = tmp_path / "OWNED"
    for name, call in blocked_calls(inputs, marker).items():
        with pytest.raises(pyvips.Error, match="operation is blocked"):
            call()
        assert not marker.exists(), name
    assert not list(tmp_path.iterdir())
    png = pyvips.Image.pngload(str(inputs["gray_png"]))
    jpeg = pyvips.Image.jpegload(str(inputs["exif_jpeg"]))
    png.pngsave(str(tmp_path / "again.png"))
    assert (png.width, jpeg.width) == (640, 400)


@pytest.mark.parametrize(
    ("size", "target", "shrink"),
    [
        ((12000, 9000), (3500, 2625), 2),  # 6000x4500: 1/4 would be 3000x2250, too small
        ((7000, 7000), (3500, 3500), 2),  # exactly the target
        ((6999, 6999), (3500, 3500), 2),  # libjpeg rounds 3499.5 up
        ((6998, 6998), (3500, 3500), 1),
        ((6000, 4000), (3500, 2333), 1),
        ((30000, 20000), (3500, 2333), 8),
        ((400, 200), (400, 200), 1),  # never enlarged, never shrunk
    ],
)
def test_jpegs_are_decoded_at_the_smallest_scale_still_covering_the_box(
    size: tuple[int, int], target: tuple[int, int], shrink: int
) -> None:
    assert vips_images.jpeg_shrink(size, target) == shrink


def test_shrunk_jpeg_still_lands_on_the_exact_size(inputs: dict[str, Path], tmp_path: Path) -> None:
    # 7200x4800, progressive: decoded at 3600x2400, then fitted.
    (page,) = render(inputs["progressive_jpeg"], tmp_path).pages
    assert (page.width, page.height) == (3500, 2333)


@pytest.mark.parametrize("png_filter", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("name", ["rgba_png", "gray_png", "big_jpeg"])
def test_each_png_filter_digit_is_the_filter_written(
    inputs: dict[str, Path], tmp_path: Path, png_filter: int, name: str
) -> None:
    unfiltered = render(inputs[name], tmp_path / "none", Limits(png_filter=0)).pages[0]
    (page,) = render(inputs[name], tmp_path / "filtered", Limits(png_filter=png_filter)).pages
    assert png_row_filters(page.path) == {png_filter}
    with Image.open(page.path) as filtered, Image.open(unfiltered.path) as plain:
        assert filtered.mode == plain.mode
        assert filtered.tobytes() == plain.tobytes()


def test_nothing_is_held_between_documents(inputs: dict[str, Path], tmp_path: Path) -> None:
    """A process that converts one document after another keeps no image and no file."""
    source = inputs["rgba_png"]
    render(source, tmp_path / "first")
    render(source, tmp_path / "second")
    assert pyvips.cache_get_size() == 0
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert str(source.resolve()) not in open_files


def damaged_jpeg(source: Path, path: Path) -> Path:
    """The first third of a JPEG's scan, then its end marker: looks complete, decodes grey."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 3] + b"\xff\xd9")
    return path


@pytest.mark.parametrize(
    "image_engine",
    [
        "vips",
        pytest.param(
            "wand",
            marks=pytest.mark.xfail(
                strict=True,
                reason="ImageMagick 6 reports libjpeg's corrupt-data warning on the command "
                "line only: Wand returns the half-grey picture",
            ),
        ),
    ],
)
def test_jpeg_cut_short_inside_its_scan_is_corrupt(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    source = damaged_jpeg(inputs["big_jpeg"], tmp_path / "damaged.jpg")
    error = failure(source, tmp_path / "pages", Limits(image_engine=image_engine))
    assert error.code == "CORRUPT_FILE"
    assert "Corrupt JPEG data" in error.message


def test_large_pictures_stream_through_pngsave_with_the_same_pixels(
    inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ours,) = render(inputs["rgba_png"], tmp_path / "ours").pages
    monkeypatch.setattr(vips_images, "STREAM_ABOVE", 0)
    (streamed,) = render(inputs["rgba_png"], tmp_path / "streamed").pages
    assert png_row_filters(streamed.path) == {2}  # the Up filter, as configured
    with Image.open(ours.path) as a, Image.open(streamed.path) as b:
        assert (a.mode, a.size) == (b.mode, b.size)
        assert a.tobytes() == b.tobytes()
