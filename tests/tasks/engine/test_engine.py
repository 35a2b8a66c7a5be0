"""The conversion engine on real files: sizes, order, colour, alpha and typed failures."""

from __future__ import annotations

import io
import math
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from tasks.engine.convert import convert
from tasks.engine.errors import ConversionError
from tasks.engine.geometry import ImageEngine, Limits, PdfEngine
from tasks.engine.kinds import sniff
from tasks.engine.pages import PageResult
from tasks.engine.ppm import ppm_to_png as _ppm_to_png

BOX = 3500
DPI_CAP = 300


@dataclass
class Run:
    count: int
    pages: list[PageResult]
    out: Path
    counts: list[int] = field(default_factory=list)


def render(
    source: Path, out: Path, limits: Limits | None = None, done: frozenset[int] = frozenset()
) -> Run:
    counts: list[int] = []
    pages: list[PageResult] = []
    count = convert(
        source,
        sniff(source.read_bytes()[:1024]) or "unknown",
        out,
        limits or Limits(),
        done.__contains__,
        counts.append,
        pages.append,
    )
    assert not list(out.glob("*.tmp"))
    return Run(count, pages, out, counts)


def failure(source: Path, out: Path, limits: Limits | None = None) -> ConversionError:
    with pytest.raises(ConversionError) as caught:
        render(source, out, limits)
    assert not list(out.glob("*.tmp")) if out.exists() else True
    return caught.value


def page_pixels(width_pt: float, height_pt: float) -> tuple[int, int]:
    """Expected size: the page at the density that fits the box, capped at 300 dpi."""
    scale = min(DPI_CAP / 72, BOX / max(width_pt, height_pt))
    return math.floor(width_pt * scale + 0.5), math.floor(height_pt * scale + 0.5)


def image_fit(width: int, height: int) -> tuple[int, int]:
    if max(width, height) <= BOX:
        return width, height
    scale = BOX / max(width, height)
    return math.floor(width * scale + 0.5), math.floor(height * scale + 0.5)


def on_disk(page: PageResult) -> Image.Image:
    image = Image.open(page.path)
    assert image.format == "PNG"
    assert image.size == (page.width, page.height)
    assert page.path.stat().st_size == page.size_bytes
    return image


def png_bit_depth(path: Path) -> int:
    return path.read_bytes()[24]


def png_row_filters(path: Path) -> set[int]:
    """The filter type byte of every row of an 8-bit PNG."""
    data = path.read_bytes()
    idat, at = bytearray(), 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        if data[at + 4 : at + 8] == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += length + 12
    with Image.open(path) as image:
        stride = image.width * len(image.getbands()) + 1
    rows = zlib.decompress(bytes(idat))
    return {rows[start] for start in range(0, len(rows), stride)}


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two same-sized pictures, over all channels (0-255)."""
    stat = ImageStat.Stat(ImageChops.difference(a.convert("RGBA"), b.convert("RGBA")))
    return sum(stat.mean) / len(stat.mean)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("mixed_pdf", "pdf"),
        ("pdf_named_png", "pdf"),
        ("big_jpeg", "jpeg"),
        ("cmyk_jpeg", "jpeg"),
        ("gray_png", "png"),
        ("png_named_jpg", "png"),
        ("png_bomb", "png"),
        ("zip_pdf", "zip"),
        ("empty", None),
        ("text_pdf", None),
        ("tiff", None),
        ("webp", None),
        ("svg", None),
        ("mvg", None),
        ("postscript", None),
    ],
)
def test_sniff_decides_by_bytes_not_name(inputs: dict[str, Path], name: str, kind: str) -> None:
    assert sniff(inputs[name].read_bytes()[:1024]) == kind


def test_sniff_finds_pdf_marker_after_leading_junk() -> None:
    assert sniff(b"\0" * 500 + b"%PDF-1.7\n") == "pdf"
    assert sniff(b"\0" * 1100 + b"%PDF-1.7\n") is None
    assert sniff(b"PK\x05\x06" + b"\0" * 18) == "zip"


def test_pdf_pages_keep_order_and_fit_the_box(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    run = render(inputs["mixed_pdf"], tmp_path, Limits(pdf_engine=pdf_engine))
    # Letter; A4 landscape; A4 with /Rotate 90; a 300x200 pt CropBox; a 1x1 inch page.
    boxes = [(612, 792), (842, 595), (842, 595), (300, 200), (72, 72)]
    assert run.count == 5
    assert run.counts == [5]
    assert [p.number for p in run.pages] == [1, 2, 3, 4, 5]
    assert [(p.width, p.height) for p in run.pages] == [page_pixels(*box) for box in boxes]
    assert [p.path.name for p in run.pages] == [f"{n:04d}.png" for n in range(1, 6)]
    for page in run.pages:
        image = on_disk(page)
        assert image.mode == "RGB"  # flattened, no alpha
        assert png_bit_depth(page.path) == 8
        assert image.getpixel((0, 0)) == (255, 255, 255)  # on white


def ink(image: Image.Image, box: tuple[float, float, float, float]) -> int:
    """Dark pixels inside a box given in fractions of the image size."""
    w, h = image.size
    part = image.convert("L").crop(
        (int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))
    )
    return sum(part.point(lambda v: 255 if v < 128 else 0).histogram()[255:])


def test_rotate_90_turns_the_page_clockwise(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    pages = render(inputs["mixed_pdf"], tmp_path, Limits(pdf_engine=pdf_engine)).pages
    upright, turned = on_disk(pages[0]), on_disk(pages[2])
    # Text lines run from the left margin to the middle of the upright page: turned
    # clockwise, the left side goes to the top.
    assert ink(upright, (0.05, 0.05, 0.5, 0.95)) > 10 * ink(upright, (0.6, 0.05, 0.95, 0.95))
    assert ink(turned, (0.05, 0.05, 0.95, 0.5)) > 10 * ink(turned, (0.05, 0.6, 0.95, 0.95))


def test_pdf_page_shows_crop_box_clipped_to_media_box_and_rotated(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    # Letter MediaBox, CropBox (-50 50 400 900) -> visible 400x742 pt, /Rotate 270.
    run = render(inputs["rotated_crop_pdf"], tmp_path, Limits(pdf_engine=pdf_engine))
    assert [(p.width, p.height) for p in run.pages] == [page_pixels(742, 400)]
    on_disk(run.pages[0])


@pytest.mark.parametrize(
    ("name", "box"),
    [("a0_pdf", (2384, 3370)), ("strip_pdf", (200, 5000)), ("a4_pdf", (595, 842))],
)
def test_large_and_odd_pages_land_within_the_box(
    inputs: dict[str, Path], tmp_path: Path, name: str, box: tuple[int, int], pdf_engine: PdfEngine
) -> None:
    (page,) = render(inputs[name], tmp_path, Limits(pdf_engine=pdf_engine)).pages
    assert (page.width, page.height) == page_pixels(*box)
    assert max(page.width, page.height) == BOX
    on_disk(page)


def test_pdf_named_png_is_rendered_as_pdf(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    (page,) = render(inputs["pdf_named_png"], tmp_path, Limits(pdf_engine=pdf_engine)).pages
    assert (page.width, page.height) == page_pixels(595, 842)


def test_owner_password_only_pdf_converts(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    assert render(inputs["owner_password_pdf"], tmp_path, Limits(pdf_engine=pdf_engine)).count == 1


def test_pdf_needing_a_user_password_fails(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    assert (
        failure(inputs["user_password_pdf"], tmp_path, Limits(pdf_engine=pdf_engine)).code
        == "ENCRYPTED_PDF"
    )


def test_damaged_pdf_keeps_rendered_pages_and_names_the_bad_one(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    error = failure(inputs["damaged_pdf"], tmp_path, Limits(pdf_engine=pdf_engine))
    assert error.code == "CORRUPT_FILE"
    assert "page 3" in error.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0001.png", "0002.png"]


def test_one_pixel_wide_page_is_a_page(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    # MediaBox [0 0 1 14400]: 17.5 dpi makes it 0.24 pixels wide, rounded up to one.
    (page,) = render(inputs["sliver_pdf"], tmp_path, Limits(pdf_engine=pdf_engine)).pages
    assert (page.width, page.height) == (1, BOX)
    assert on_disk(page).getpixel((0, BOX // 2)) == (255, 255, 255)


@pytest.mark.parametrize(("name", "blank"), [("no_contents_pdf", 1), ("empty_contents_pdf", 2)])
def test_page_without_contents_is_a_blank_page(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine, name: str, blank: int
) -> None:
    run = render(inputs[name], tmp_path, Limits(pdf_engine=pdf_engine))
    assert [p.number for p in run.pages] == list(range(1, run.count + 1))
    assert {(p.width, p.height) for p in run.pages} == {page_pixels(595, 842)}
    white = ((255, 255), (255, 255), (255, 255))
    assert [on_disk(p).getextrema() == white for p in run.pages] == [
        p.number == blank for p in run.pages
    ]


def test_annotations_and_form_fields_are_drawn(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    (page,) = render(inputs["annotated_pdf"], tmp_path, Limits(pdf_engine=pdf_engine)).pages
    image = on_disk(page)
    # A square annotation on the left, a form field on the right, nothing else on the page.
    assert ink(image, (0.12, 0.35, 0.38, 0.6)) > 0.9 * ink_area(image, (0.12, 0.35, 0.38, 0.6))
    assert ink(image, (0.62, 0.35, 0.88, 0.6)) > 0.9 * ink_area(image, (0.62, 0.35, 0.88, 0.6))
    assert ink(image, (0.0, 0.0, 1.0, 0.25)) == 0


def ink_area(image: Image.Image, box: tuple[float, float, float, float]) -> int:
    w, h = image.size
    return (int(box[2] * w) - int(box[0] * w)) * (int(box[3] * h) - int(box[1] * h))


def test_scratch_of_a_killed_conversion_is_removed(
    inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f"pagemill-gs-{dead.pid}-x1y2"
    (orphan / "sub").mkdir(parents=True)
    render(inputs["a4_pdf"], tmp_path / "out", Limits(pdf_engine="ghostscript"))
    assert not orphan.exists()
    assert not list(tmp_path.glob("pagemill-gs-*"))  # its own is gone after the document


def test_truncated_pdf_is_corrupt(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    assert (
        failure(inputs["truncated_pdf"], tmp_path, Limits(pdf_engine=pdf_engine)).code
        == "CORRUPT_FILE"
    )


def test_too_many_pages_is_too_large(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    error = failure(inputs["many_pages_pdf"], tmp_path, Limits(max_pages=10, pdf_engine=pdf_engine))
    assert error.code == "TOO_LARGE"
    assert "12" in error.message and "10" in error.message
    assert not list(tmp_path.glob("*.png"))


def test_oversized_page_is_too_large(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    error = failure(inputs["huge_page_pdf"], tmp_path, Limits(pdf_engine=pdf_engine))
    assert error.code == "TOO_LARGE"
    assert "15000" in error.message and "14400" in error.message


def test_resume_skips_recorded_pages_on_disk(
    inputs: dict[str, Path], tmp_path: Path, pdf_engine: PdfEngine
) -> None:
    first = render(inputs["many_pages_pdf"], tmp_path, Limits(pdf_engine=pdf_engine))
    kept = {p.number: p.path.stat().st_mtime_ns for p in first.pages[:5]}
    for page in first.pages[5:]:
        page.path.unlink()
    (tmp_path / "0006.png.tmp").write_bytes(b"half a page")  # left by a killed attempt
    again = render(
        inputs["many_pages_pdf"], tmp_path, Limits(pdf_engine=pdf_engine), frozenset(range(1, 8))
    )
    # 6 and 7 are recorded but missing on disk: rendered again, like 8-12.
    assert [p.number for p in again.pages] == list(range(6, 13))
    assert {n: (tmp_path / f"{n:04d}.png").stat().st_mtime_ns for n in kept} == kept


def test_big_jpeg_shrinks_to_the_box(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    (page,) = render(inputs["big_jpeg"], tmp_path, Limits(image_engine=image_engine)).pages
    assert (page.width, page.height) == image_fit(6000, 4000)
    assert on_disk(page).mode == "RGB"


def test_exif_orientation_is_applied(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    (page,) = render(inputs["exif_jpeg"], tmp_path, Limits(image_engine=image_engine)).pages
    assert (page.width, page.height) == (200, 400)  # stored 400x200, orientation 6
    assert on_disk(page).getexif().get(0x0112) in (None, 1)


def test_exif_rotated_big_jpeg_is_decoded_small_and_fits(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    (page,) = render(inputs["big_exif_jpeg"], tmp_path, Limits(image_engine=image_engine)).pages
    assert (page.width, page.height) == image_fit(3000, 4800)  # stored 4800x3000
    on_disk(page)


def test_cmyk_jpeg_comes_out_rgb_with_sane_colours(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    (page,) = render(inputs["cmyk_jpeg"], tmp_path, Limits(image_engine=image_engine)).pages
    image = on_disk(page)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((150, 100))  # type: ignore[misc]
    assert red > 200 and green < 80 and blue < 80  # magenta + yellow ink is red


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("gray_png", (640, 480)),
        ("png16", (320, 240)),
        ("palette_png", (500, 300)),
        ("tiny_png", (1, 1)),
        ("png_named_jpg", (640, 480)),
        ("gray16_png", (80, 60)),
        ("rgba16_png", (80, 60)),
        ("bilevel_png", (64, 32)),
    ],
)
def test_pngs_keep_their_size_at_8_bits(
    inputs: dict[str, Path],
    tmp_path: Path,
    image_engine: ImageEngine,
    name: str,
    size: tuple[int, int],
) -> None:
    (page,) = render(inputs[name], tmp_path, Limits(image_engine=image_engine)).pages
    assert (page.width, page.height) == size
    on_disk(page)
    assert png_bit_depth(page.path) <= 8


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("gray_png", "L"),
        ("bilevel_png", "L"),
        ("gray16_png", "L"),
        ("gray_jpeg", "L"),
        ("gray_alpha_png", "LA"),
        ("opaque_gray_alpha_png", "LA"),
        ("png16", "RGB"),
        ("palette_png", "RGB"),
        ("tiny_png", "RGB"),
        ("cmyk_jpeg", "RGB"),
        ("rgba16_png", "RGBA"),
        ("palette_alpha_png", "RGBA"),
        ("rgba_png", "RGBA"),
        ("interlaced_png", "RGBA"),
    ],
)
def test_grey_stays_grey_and_alpha_stays_at_8_bits(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine, name: str, mode: str
) -> None:
    (page,) = render(inputs[name], tmp_path, Limits(image_engine=image_engine)).pages
    assert on_disk(page).mode == mode
    assert png_bit_depth(page.path) == 8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine, orientation: int
) -> None:
    source = inputs[f"orientation{orientation}_jpeg"]
    (page,) = render(source, tmp_path, Limits(image_engine=image_engine)).pages
    with Image.open(source) as stored:
        upright = ImageOps.exif_transpose(stored)
    image = on_disk(page)
    assert image.size == upright.size == ((60, 120) if orientation >= 5 else (120, 60))
    assert mean_difference(image, upright) < 3  # the white mark lands in the same corner
    assert not image.getexif()  # applied, then dropped with the rest of EXIF


def test_png_exif_orientation_is_applied(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    source = inputs["orientation6_png"]
    (page,) = render(source, tmp_path, Limits(image_engine=image_engine)).pages
    with Image.open(source) as stored:
        upright = ImageOps.exif_transpose(stored)
    image = on_disk(page)
    assert image.size == (60, 120)
    assert mean_difference(image, upright) < 1


@pytest.mark.parametrize("name", ["icc_jpeg", "icc_png"])
def test_icc_profile_is_kept(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine, name: str
) -> None:
    (page,) = render(inputs[name], tmp_path, Limits(image_engine=image_engine)).pages
    with Image.open(inputs[name]) as source:
        profile = source.info["icc_profile"]
    assert on_disk(page).info.get("icc_profile") == profile


def test_png_compression_and_filter_come_from_the_limits(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    fast = Limits(png_compression_level=1, png_filter=5, image_engine=image_engine)
    (quick,) = render(inputs["rgba_png"], tmp_path / "fast", fast).pages
    tight = Limits(png_compression_level=9, png_filter=5, image_engine=image_engine)
    (small,) = render(inputs["rgba_png"], tmp_path / "tight", tight).pages
    assert small.size_bytes < quick.size_bytes
    assert mean_difference(on_disk(quick), on_disk(small)) == 0  # lossless either way
    assert len(png_row_filters(quick.path)) > 1  # 5: adaptive, a filter chosen per row


def test_rgba_png_keeps_alpha_when_shrunk(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    (page,) = render(inputs["rgba_png"], tmp_path, Limits(image_engine=image_engine)).pages
    assert (page.width, page.height) == image_fit(4000, 1000)
    image = on_disk(page)
    assert image.mode == "RGBA"
    low, high = cast(tuple[int, int], image.getchannel("A").getextrema())
    assert low < 50 and high > 200


def test_png_bomb_fails_before_decoding(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    assert inputs["png_bomb"].stat().st_size < 100_000
    error = failure(inputs["png_bomb"], tmp_path, Limits(image_engine=image_engine))
    assert error.code == "TOO_LARGE"
    assert "50000x50000" in error.message and "200000000" in error.message


def test_image_side_limit_is_too_large(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    limits = Limits(max_image_side=5000, image_engine=image_engine)
    error = failure(inputs["big_jpeg"], tmp_path, limits)
    assert error.code == "TOO_LARGE"
    assert "6000x4000" in error.message and "5000" in error.message


def test_image_wider_than_imagemagick_allows_is_too_large(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine
) -> None:
    # libvips has no such cap: the limit is kept so both engines accept the same images.
    error = failure(inputs["wide_png"], tmp_path, Limits(image_engine=image_engine))
    assert error.code == "TOO_LARGE"
    assert "20000x100" in error.message and "16000" in error.message


@pytest.mark.parametrize("name", ["truncated_jpeg", "truncated_png"])
def test_truncated_images_are_corrupt(
    inputs: dict[str, Path], tmp_path: Path, image_engine: ImageEngine, name: str
) -> None:
    assert failure(inputs[name], tmp_path, Limits(image_engine=image_engine)).code == "CORRUPT_FILE"
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(
    "name", ["empty", "text_pdf", "zip_pdf", "tiff", "webp", "svg", "mvg", "postscript"]
)
def test_other_formats_are_unsupported(inputs: dict[str, Path], tmp_path: Path, name: str) -> None:
    assert failure(inputs[name], tmp_path).code == "UNSUPPORTED_FORMAT"


def test_renderer_output_off_by_a_pixel_is_resized_exactly(tmp_path: Path) -> None:
    header = b"P6\n# Image generated by GPL Ghostscript\n3501 4\n255\n"
    stream = io.BytesIO(header + b"\x80" * (3501 * 4 * 3))
    tmp = _ppm_to_png(stream, (3500, 4), tmp_path / "0001.png", Limits())
    with Image.open(tmp) as image:
        assert image.size == (3500, 4)
        assert image.getpixel((0, 0)) == (128, 128, 128)
