"""Hostile files through the real conversion child: delegates never run, Ghostscript never
executes PostScript, bombs and giant documents fail TOO_LARGE before any pixel buffer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from settings import Settings, get_settings
from tasks.engine.kinds import sniff
from tasks.sandbox.child import magick_environment
from tasks.sandbox.pool import PROJECT_ROOT
from tasks.sandbox.runner import ConversionJob, ConversionOutcome, run_conversion
from tests.security import corpus

# Image tests run on each image engine, PDF tests on each PDF engine.
ENGINES = ["vips", "wand"]
PDF_ENGINES = ["pdfium", "ghostscript"]


def with_engine(engine: str, **changes: object) -> Settings:
    return get_settings().model_copy(update={"image_engine": engine, **changes})


def with_pdf_engine(engine: str) -> Settings:
    return get_settings().model_copy(update={"pdf_engine": engine})


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file every payload tries to create (in the system temporary directory, which is
    where Ghostscript under -dSAFER may still write)."""
    return tmp_path_factory.mktemp("marker") / "OWNED"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, marker: Path) -> dict[str, Path]:
    """The hostile corpus, by the name an attacker would give each file."""
    return corpus.write_all(tmp_path_factory.mktemp("hostile"), marker)


async def convert(source: Path, out: Path, settings: Settings | None = None) -> ConversionOutcome:
    """One conversion through the memory-capped child, as a worker runs it."""

    async def ignore(_: object) -> None:
        return None

    job = ConversionJob(source=source, kind="pdf", pages_dir=out / "pages")
    return await run_conversion(
        job, settings=settings or get_settings(), on_count=ignore, on_page=ignore
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "name",
    [
        "mvg.png",
        "mvg.jpg",
        "svg.png",
        "svg.jpg",
        "postscript.pdf",
        "postscript.png",
        "ps-polyglot.pdf",
    ],
)
async def test_delegate_formats_under_any_name_are_unsupported(
    hostile: dict[str, Path], marker: Path, tmp_path: Path, name: str, engine: str
) -> None:
    outcome = await convert(hostile[name], tmp_path, with_engine(engine))
    assert outcome.error_code == "UNSUPPORTED_FORMAT", outcome
    assert not marker.exists()
    assert not list((tmp_path / "pages").glob("*"))


def test_postscript_with_a_pdf_header_inside_is_not_a_pdf() -> None:
    polyglot = corpus.postscript_pdf_polyglot(Path("/tmp/x"), corpus.pdf_page(72, 72))
    assert b"%PDF-" in polyglot[:1024]
    assert sniff(polyglot[:1024]) is None
    assert sniff(b"\xc5\xd0\xd3\xc6" + polyglot[4:1024]) is None  # DOS EPS binary header


@pytest.mark.parametrize("pdf_engine", PDF_ENGINES)
@pytest.mark.parametrize("name", ["actions.pdf", "ps-operator.pdf", "junk-polyglot.pdf"])
async def test_pdf_scripts_and_actions_never_run(
    hostile: dict[str, Path], marker: Path, tmp_path: Path, name: str, pdf_engine: str
) -> None:
    outcome = await convert(hostile[name], tmp_path, with_pdf_engine(pdf_engine))
    assert not marker.exists(), f"{name} created {marker}"
    assert outcome.error_code is None, outcome
    assert outcome.page_count == 1
    assert (tmp_path / "pages" / "0001.png").stat().st_size > 0


@pytest.mark.parametrize("engine", ENGINES)
async def test_png_bomb_is_too_large_with_limit_and_value(
    hostile: dict[str, Path], tmp_path: Path, engine: str
) -> None:
    source = hostile["png-bomb.png"]
    assert source.stat().st_size < 200_000
    outcome = await convert(source, tmp_path, with_engine(engine))
    assert outcome.error_code == "TOO_LARGE", outcome
    assert "50000x50000" in str(outcome.error_message)
    assert str(get_settings().max_pixels) in str(outcome.error_message)


@pytest.mark.parametrize("engine", ENGINES)
async def test_jpeg_bomb_is_too_large_with_limit_and_value(
    hostile: dict[str, Path], tmp_path: Path, engine: str
) -> None:
    outcome = await convert(hostile["jpeg-bomb.jpg"], tmp_path, with_engine(engine))
    assert outcome.error_code == "TOO_LARGE", outcome
    assert "65000x65000" in str(outcome.error_message)


@pytest.mark.parametrize("engine", ENGINES)
async def test_pixel_limit_is_checked_before_decoding(tmp_path: Path, engine: str) -> None:
    # 12000 x 12000 = 144 MP: within ImageMagick's sides, over a 100 MP setting, and decoding
    # it would need ~430 MB of pixels, far over a 256 MB address-space cap.
    source = tmp_path / "bomb.png"
    source.write_bytes(corpus.png_bomb_sized(12_000, 12_000))
    outcome = await convert(source, tmp_path, with_engine(engine, max_pixels=100_000_000))
    assert outcome.error_code == "TOO_LARGE", outcome
    assert "144000000" in str(outcome.error_message)
    assert "100000000" in str(outcome.error_message)


@pytest.mark.parametrize("pdf_engine", PDF_ENGINES)
async def test_page_of_200_inches_is_rendered_at_a_capped_density(
    hostile: dict[str, Path], tmp_path: Path, pdf_engine: str
) -> None:
    # 14,400 pt is the default max_page_points (PDF's own user-space maximum): such a page is
    # accepted and rendered at max_side * 72 / 14400 = 17.5 dpi, not at max_density.
    settings = with_pdf_engine(pdf_engine)
    assert settings.max_page_points == 14_400
    pages: list[tuple[int, int]] = []

    async def on_page(page: object) -> None:
        pages.append((page.width, page.height))  # type: ignore[attr-defined]

    async def ignore(_: int) -> None:
        return None

    job = ConversionJob(hostile["page-200in.pdf"], "pdf", tmp_path / "pages")
    outcome = await run_conversion(job, settings=settings, on_count=ignore, on_page=on_page)
    assert outcome.page_count == 1, outcome
    assert pages == [(settings.max_side, settings.max_side)]


@pytest.mark.parametrize("pdf_engine", PDF_ENGINES)
async def test_page_over_the_point_limit_is_too_large(
    hostile: dict[str, Path], tmp_path: Path, pdf_engine: str
) -> None:
    outcome = await convert(hostile["page-201in.pdf"], tmp_path, with_pdf_engine(pdf_engine))
    assert outcome.error_code == "TOO_LARGE", outcome
    assert "14472x14472 pt" in str(outcome.error_message)
    assert "14400 pt" in str(outcome.error_message)


@pytest.mark.parametrize("pdf_engine", PDF_ENGINES)
@pytest.mark.parametrize("name", ["pages-100000.pdf", "count-lie.pdf"])
async def test_declared_100000_pages_is_too_large(
    hostile: dict[str, Path], tmp_path: Path, name: str, pdf_engine: str
) -> None:
    outcome = await convert(hostile[name], tmp_path, with_pdf_engine(pdf_engine))
    assert outcome.error_code == "TOO_LARGE", outcome
    assert "100000 pages" in str(outcome.error_message)
    assert str(get_settings().max_pages) in str(outcome.error_message)
    assert outcome.page_count is None  # refused before any page was counted or rendered


def test_opening_a_100000_page_pdf_does_not_walk_the_tree(hostile: dict[str, Path]) -> None:
    from tasks.engine.pdfinfo import open_pdf

    with open_pdf(hostile["pages-100000.pdf"]) as pdf:
        assert pdf.declared_page_count == 100_000
        # qpdf's inherited-attribute push walks every page and repairs each one, leaving a
        # warning per page; a lazily opened file has none.
        assert not pdf._pdf.get_warnings()


POLICY_PROBE = """
import json, sys
from wand.image import Image
results = {}
for coder in sys.argv[2:]:
    try:
        with Image(filename=f"{coder}:{sys.argv[1]}"):
            results[coder] = "read"
    except Exception as exc:
        results[coder] = type(exc).__name__
print(json.dumps(results))
"""


def test_project_policy_denies_every_coder_but_the_needed_ones(
    hostile: dict[str, Path], tmp_path: Path
) -> None:
    """With an explicit coder prefix, ImageMagick refuses everything outside the allowlist."""
    settings = get_settings()
    env = {**os.environ, **magick_environment(settings.magick_memory_mb, 64, 1)}
    denied = ["mvg", "msl", "svg", "msvg", "text", "txt", "ephemeral", "url", "https"]
    denied += ["ps", "eps", "pdf", "xps", "label", "caption", "gif", "tiff", "bmp", "xcf"]
    result = subprocess.run(
        [sys.executable, "-c", POLICY_PROBE, str(hostile["mvg.png"]), *denied],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    outcomes = json.loads(result.stdout)
    assert all(outcome != "read" for outcome in outcomes.values()), outcomes
    assert outcomes["svg"] == outcomes["ps"] == outcomes["pdf"] == "PolicyError", outcomes
    # Named .mvg, ImageMagick would pick the MVG coder from the name alone: still denied.
    named = tmp_path / "payload.mvg"
    named.write_bytes(hostile["mvg.png"].read_bytes())
    result = subprocess.run(
        [sys.executable, "-c", POLICY_PROBE, str(named), "mvg", "msl", "ephemeral"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(json.loads(result.stdout).values()) == {"PolicyError"}, result.stdout
    allowed = tmp_path / "ok.png"
    allowed.write_bytes(corpus.png_bomb_sized(4, 4))
    ok = subprocess.run(
        [sys.executable, "-c", POLICY_PROBE, str(allowed), "png"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(ok.stdout) == {"png": "read"}
