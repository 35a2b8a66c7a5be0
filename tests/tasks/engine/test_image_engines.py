"""The libvips and Wand engines on every image fixture and every hostile file: the same pages
(count, order, name, size, mode, bit depth, ICC profile) or the same error code, and the
same picture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tasks.engine.convert import convert
from tasks.engine.errors import ConversionError
from tasks.engine.geometry import ImageEngine, Limits
from tasks.engine.kinds import sniff
from tasks.engine.pages import PageResult
from tests.security import corpus
from tests.tasks.engine.test_engine import mean_difference

ENGINES: tuple[ImageEngine, ...] = ("vips", "wand")
# libvips converts CMYK through the JPEG's own profile (or its built-in one) with lcms;
# ImageMagick 6 subtracts the inks from white. Both make magenta and yellow ink red
# (test_engine checks that), in different shades.
CMYK_INPUTS = {"cmyk_jpeg"}


@dataclass(frozen=True)
class Seen:
    """What a user sees of one conversion."""

    error: str | None
    count: int = 0
    # number, file name, size, mode, bit depth, ICC profile
    pages: tuple[tuple[int, str, tuple[int, int], str, int, bytes | None], ...] = ()


def run(source: Path, out: Path, engine: ImageEngine) -> tuple[int, list[PageResult]]:
    pages: list[PageResult] = []
    kind = sniff(source.read_bytes()[:1024]) or "unknown"
    limits = Limits(image_engine=engine)
    count = convert(source, kind, out, limits, lambda _: False, lambda _: None, pages.append)
    return count, pages


def seen(source: Path, out: Path, engine: ImageEngine) -> Seen:
    try:
        count, pages = run(source, out, engine)
    except ConversionError as exc:
        assert not out.exists() or not list(out.iterdir()), "a failed image left files"
        return Seen(exc.code)
    described = []
    for page in pages:
        with Image.open(page.path) as image:
            assert image.size == (page.width, page.height)
            bits = page.path.read_bytes()[24]
            icc = image.info.get("icc_profile")
            described.append((page.number, page.path.name, image.size, image.mode, bits, icc))
    return Seen(None, count, tuple(described))


def not_pdf(files: dict[str, Path]) -> dict[str, Path]:
    """Everything an image engine may see: PDFs go to Ghostscript whatever the setting."""
    return {name: path for name, path in files.items() if sniff(path.read_bytes()[:1024]) != "pdf"}


def by_engine(files: dict[str, Path], out: Path) -> dict[ImageEngine, dict[str, Seen]]:
    return {
        engine: {name: seen(path, out / engine / name, engine) for name, path in files.items()}
        for engine in ENGINES
    }


def test_engines_give_the_same_pages_and_errors_for_every_fixture(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    files = not_pdf(inputs)
    outcomes = by_engine(files, tmp_path)
    assert outcomes["vips"] == outcomes["wand"]
    results = outcomes["vips"].values()
    # The set reaches every mode and every kind of failure, not only errors.
    assert {page[3] for result in results for page in result.pages} == {"L", "LA", "RGB", "RGBA"}
    assert {result.error for result in results} == {
        None,
        "UNSUPPORTED_FORMAT",
        "TOO_LARGE",
        "CORRUPT_FILE",
    }
    assert sum(result.error is None for result in results) >= 25


def test_engines_give_the_same_errors_for_every_hostile_file(tmp_path: Path) -> None:
    marker = tmp_path / "OWNED"
    files = not_pdf(corpus.write_all(tmp_path / "hostile", marker))
    assert {"png-bomb.png", "jpeg-bomb.jpg", "svg.png", "mvg.jpg", "postscript.png"} <= set(files)
    outcomes = by_engine(files, tmp_path / "out")
    assert outcomes["vips"] == outcomes["wand"]
    assert all(result.error is not None for result in outcomes["vips"].values())
    assert not marker.exists()


def test_engines_draw_the_same_pictures(inputs: dict[str, Path], tmp_path: Path) -> None:
    differences = {}
    for name, source in not_pdf(inputs).items():
        if name in CMYK_INPUTS:
            continue
        try:
            drawn = [run(source, tmp_path / e / name, e)[1][0].path for e in ENGINES]
        except ConversionError:
            continue
        with Image.open(drawn[0]) as first, Image.open(drawn[1]) as second:
            differences[name] = round(mean_difference(first, second), 2)
    assert len(differences) >= 25
    # Different resampling kernels and JPEG decode scales: a fraction of a level on average.
    assert {name: diff for name, diff in differences.items() if diff > 1.5} == {}
