"""Office documents: recognised by content, made into a PDF by LibreOffice, then paged."""

from __future__ import annotations

import http.server
import io
import re
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docx
import openpyxl
import pptx
import pytest
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.shared import Inches
from msoffcrypto.format.ooxml import OOXMLFile
from PIL import Image

from settings import get_settings
from tasks import office
from tasks.engine import PageResult
from tasks.runner import ConversionJob, ConversionOutcome, run_conversion


def _multi_section(path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Portrait section")
    section = document.add_section(WD_SECTION.NEW_PAGE)
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    document.add_paragraph("Landscape section")
    document.save(str(path))


def _png() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 40, 40)).save(buffer, "PNG")
    buffer.seek(0)
    return buffer


def _with_image(path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("A picture follows")
    document.add_picture(_png(), width=Inches(3))
    document.save(str(path))


def _external_image(path: Path, url: str) -> None:
    # Turn the embedded picture into a linked one: the relationship points at `url`.
    _with_image(path)
    with zipfile.ZipFile(path) as zf:
        items = {name: zf.read(name) for name in zf.namelist()}
    rels = items["word/_rels/document.xml.rels"].decode()
    rels = re.sub(r'Target="media/[^"]+"', f'Target="{url}" TargetMode="External"', rels, count=1)
    items["word/_rels/document.xml.rels"] = rels.encode()
    items["word/document.xml"] = items["word/document.xml"].replace(b"r:embed=", b"r:link=")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items.items():
            if not name.startswith("word/media/"):
                zf.writestr(name, data)


def _spreadsheet(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in range(1, 40):
        sheet.append([row, row * row, f"row {row}"])
    book.save(path)


def _slides(path: Path) -> None:
    deck = pptx.Presentation()
    for title in ("First", "Second"):
        slide = deck.slides.add_slide(deck.slide_layouts[0])
        slide.shapes.title.text = title
    deck.save(str(path))


def _corrupt(path: Path) -> None:
    docx.Document().save(str(path))
    with zipfile.ZipFile(path) as zf:
        items = {name: zf.read(name) for name in zf.namelist()}
    items["word/document.xml"] = b"<<<not xml" + bytes(range(256)) * 8
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items.items():
            zf.writestr(name, data)


def _encrypted(path: Path) -> None:
    plain = path.with_name("plain.docx")
    _with_image(plain)
    with plain.open("rb") as src, path.open("wb") as out:
        OOXMLFile(src).encrypt("secret", out)


def _soffice_copy(source: Path, to: str, outdir: Path) -> Path:
    """Saves source in another format with LibreOffice itself (DOC, RTF, ODT, ODP)."""
    subprocess.run(  # noqa: S603
        ["soffice", f"-env:UserInstallation={(outdir / 'profile').as_uri()}", "--headless",
         "--convert-to", to, "--outdir", str(outdir), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return outdir / f"{source.stem}.{to}"


@pytest.fixture(scope="session")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Office documents made with python-docx, openpyxl, python-pptx and LibreOffice."""
    root = tmp_path_factory.mktemp("office")
    made = {
        "sections.docx": _multi_section,
        "image.docx": _with_image,
        "sheet.xlsx": _spreadsheet,
        "slides.pptx": _slides,
        "corrupt.docx": _corrupt,
        "encrypted.docx": _encrypted,
    }
    for name, make in made.items():
        make(root / name)
    paths = {name: root / name for name in made}
    paths["image.doc"] = _soffice_copy(paths["image.docx"], "doc", root)
    paths["image.rtf"] = _soffice_copy(paths["image.docx"], "rtf", root)
    paths["image.odt"] = _soffice_copy(paths["image.docx"], "odt", root)
    paths["slides.odp"] = _soffice_copy(paths["slides.pptx"], "odp", root)
    return paths


async def convert(source: Path, out: Path) -> tuple[ConversionOutcome, list[PageResult]]:
    """Runs the real conversion child on source."""
    kind = office.sniff_path(source)
    assert kind is not None
    pages: list[PageResult] = []

    async def on_count(count: int) -> None:
        pass

    async def on_page(page: PageResult) -> None:
        pages.append(page)

    job = ConversionJob(source=source, kind=kind, pages_dir=out / "pages")
    outcome = await run_conversion(job, settings=get_settings(), on_count=on_count, on_page=on_page)
    return outcome, pages


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("sections.docx", "docx"),
        ("sheet.xlsx", "xlsx"),
        ("slides.pptx", "pptx"),
        ("image.doc", "doc"),
        ("image.rtf", "rtf"),
        ("image.odt", "odt"),
        ("slides.odp", "odp"),
        ("encrypted.docx", "encrypted-office"),
    ],
)
def test_office_kinds_are_recognised_by_content(
    docs: dict[str, Path], tmp_path: Path, name: str, kind: str
) -> None:
    renamed = tmp_path / "upload.bin"  # the name says nothing
    renamed.write_bytes(docs[name].read_bytes())
    assert office.sniff_path(renamed) == kind


def test_a_plain_zip_stays_a_zip(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    assert office.sniff_path(archive) == "zip"


async def test_landscape_section_gives_a_landscape_page(
    docs: dict[str, Path], tmp_path: Path
) -> None:
    outcome, pages = await convert(docs["sections.docx"], tmp_path)
    assert (outcome.error_code, outcome.page_count) == (None, 2)
    portrait, landscape = sorted(pages, key=lambda p: p.number)
    assert portrait.width < portrait.height
    assert landscape.width > landscape.height
    assert office.rendition_path(tmp_path / "pages").read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("name", "count"),
    [("image.docx", 1), ("sheet.xlsx", 1), ("slides.pptx", 2), ("slides.odp", 2),
     ("image.doc", 1), ("image.rtf", 1), ("image.odt", 1)],
)  # fmt: skip
async def test_office_documents_become_pages(
    docs: dict[str, Path], tmp_path: Path, name: str, count: int
) -> None:
    outcome, pages = await convert(docs[name], tmp_path)
    assert (outcome.error_code, outcome.page_count, len(pages)) == (None, count, count)
    assert all(page.path.read_bytes().startswith(b"\x89PNG") for page in pages)


async def test_slides_are_landscape(docs: dict[str, Path], tmp_path: Path) -> None:
    _, pages = await convert(docs["slides.pptx"], tmp_path)
    assert all(page.width > page.height for page in pages)


async def test_picture_is_rendered(docs: dict[str, Path], tmp_path: Path) -> None:
    _, pages = await convert(docs["image.docx"], tmp_path)
    with Image.open(pages[0].path) as page:
        rgb = page.convert("RGB")
        red = sum(
            1
            for y in range(0, rgb.height, 4)
            for x in range(0, rgb.width, 4)
            if _is_red(rgb.getpixel((x, y)))
        )
    assert red > 10_000 // 16  # the 3-inch red picture (sampled every 4 px), not just text


def _is_red(pixel: object) -> bool:
    r, g, b = pixel if isinstance(pixel, tuple) else (0, 0, 0)
    return bool(r > 150 and g < 90 and b < 90)


async def test_corrupt_docx_is_corrupt_file(docs: dict[str, Path], tmp_path: Path) -> None:
    outcome, pages = await convert(docs["corrupt.docx"], tmp_path)
    assert (outcome.error_code, pages) == ("CORRUPT_FILE", [])
    assert not outcome.retriable


async def test_password_protected_docx_is_encrypted_document(
    docs: dict[str, Path], tmp_path: Path
) -> None:
    outcome, pages = await convert(docs["encrypted.docx"], tmp_path)
    assert (outcome.error_code, pages) == ("ENCRYPTED_DOCUMENT", [])


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        body = _png().getvalue()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request it gets."""
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/picture.png", _Recorder.requests
    server.shutdown()
    thread.join()


async def test_linked_image_is_never_fetched(
    tmp_path: Path, listener: tuple[str, list[str]]
) -> None:
    url, requests = listener
    source = tmp_path / "linked.docx"
    _external_image(source, url)
    outcome, pages = await convert(source, tmp_path)
    assert (outcome.error_code, len(pages)) == (None, 1)
    assert requests == []


async def test_libreoffice_past_its_timeout_is_killed(
    docs: dict[str, Path], tmp_path: Path
) -> None:
    settings = get_settings().model_copy(update={"office_timeout": 0.2})
    job = ConversionJob(source=docs["image.docx"], kind="docx", pages_dir=tmp_path / "pages")

    async def ignore(value: object) -> None:
        pass

    outcome = await run_conversion(job, settings=settings, on_count=ignore, on_page=ignore)
    assert outcome.error_code == "TIMEOUT"
    assert not office.rendition_path(tmp_path / "pages").exists()
