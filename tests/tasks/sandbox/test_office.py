"""Office documents: recognised by content, made into a PDF by LibreOffice, then paged."""

from __future__ import annotations

import asyncio
import http.server
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docx
import openpyxl
import pptx
import psutil
import pytest
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.shared import Inches
from msoffcrypto.format.ooxml import OOXMLFile
from PIL import Image

from settings import Settings, get_settings
from tasks.engine import kinds, office
from tasks.engine.pages import PageResult
from tasks.sandbox.office_pool import OfficePool
from tasks.sandbox.runner import ConversionJob, ConversionOutcome
from tasks.service.conversion import run_job
from tests.gql.support import wait_for
from tests.waiting import eventually


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


def _long(path: Path) -> None:
    # Some 150 pages: LibreOffice needs seconds for it, time enough to kill it mid-way.
    document = docx.Document()
    for number in range(1500):
        document.add_paragraph(f"Paragraph {number} " * 30)
    document.save(str(path))


MACRO_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0"
 xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2">
<office:scripts><office:event-listeners>
<script:event-listener script:language="ooo:script" script:event-name="dom:load"
 xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document"
 xlink:type="simple"/>
</office:event-listeners></office:scripts>
<office:body><office:text><text:p>A document with a macro</text:p></office:text></office:body>
</office:document-content>"""
MACRO_MODULE = """<?xml version="1.0" encoding="UTF-8"?>
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1"
 script:language="StarBasic">Sub Main
  Open &quot;{marker}&quot; For Output As #1
  Print #1, &quot;the macro ran&quot;
  Close #1
End Sub
</script:module>"""
MACRO_LIBRARY = """<?xml version="1.0" encoding="UTF-8"?>
<library:library xmlns:library="http://openoffice.org/2000/library" library:name="Standard"
 library:readonly="false" library:passwordprotected="false">
<library:element library:name="Module1"/></library:library>"""
MACRO_LIBRARIES = """<?xml version="1.0" encoding="UTF-8"?>
<library:libraries xmlns:library="http://openoffice.org/2000/library"
 xmlns:xlink="http://www.w3.org/1999/xlink">
<library:library library:name="Standard" library:link="false"/></library:libraries>"""
MACRO_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
 manifest:version="1.2">
<manifest:file-entry manifest:full-path="/"
 manifest:media-type="application/vnd.oasis.opendocument.text"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/script-lc.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/Standard/script-lb.xml"
 manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/Standard/Module1.xml"
 manifest:media-type="text/xml"/>
</manifest:manifest>"""


def _macro_document(path: Path, marker: Path) -> None:
    """An ODT whose Basic macro, bound to the document's load event, writes `marker`.

    Loaded through UNO with MacroExecutionMode ALWAYS_EXECUTE_NO_WARN it does write it.
    """
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        zf.writestr("META-INF/manifest.xml", MACRO_MANIFEST)
        zf.writestr("content.xml", MACRO_CONTENT)
        zf.writestr("Basic/script-lc.xml", MACRO_LIBRARIES)
        zf.writestr("Basic/Standard/script-lb.xml", MACRO_LIBRARY)
        zf.writestr("Basic/Standard/Module1.xml", MACRO_MODULE.format(marker=marker))


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
        "long.docx": _long,
    }
    for name, make in made.items():
        make(root / name)
    paths = {name: root / name for name in made}
    paths["image.doc"] = _soffice_copy(paths["image.docx"], "doc", root)
    paths["image.rtf"] = _soffice_copy(paths["image.docx"], "rtf", root)
    paths["image.odt"] = _soffice_copy(paths["image.docx"], "odt", root)
    paths["slides.odp"] = _soffice_copy(paths["slides.pptx"], "odp", root)
    return paths


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[OfficePool]:
    """One warm LibreOffice shared by the tests that only look at the pages."""
    shared = OfficePool(1)
    yield shared
    await shared.close()


@pytest.fixture
async def fresh() -> AsyncIterator[OfficePool]:
    """A LibreOffice of the test's own, for tests that follow its processes."""
    own = OfficePool(1)
    yield own
    await own.close()


async def convert(
    source: Path, out: Path, pool: OfficePool, settings: Settings | None = None
) -> tuple[ConversionOutcome, list[PageResult]]:
    """Converts source as a worker does: the rendition by the pool, then the pages."""
    kind = kinds.sniff_path(source)
    assert kind is not None
    pages: list[PageResult] = []

    async def on_count(count: int) -> None:
        pass

    async def on_page(page: PageResult) -> None:
        pages.append(page)

    job = ConversionJob(source=source, kind=kind, pages_dir=out / "pages")
    outcome = await run_job(
        job, settings=settings or get_settings(), on_count=on_count, on_page=on_page, pool=pool
    )
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
    assert kinds.sniff_path(renamed) == kind


def test_a_plain_zip_stays_a_zip(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    assert kinds.sniff_path(archive) == "zip"


async def test_landscape_section_gives_a_landscape_page(
    docs: dict[str, Path], tmp_path: Path, pool: OfficePool
) -> None:
    outcome, pages = await convert(docs["sections.docx"], tmp_path, pool)
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
    docs: dict[str, Path], tmp_path: Path, pool: OfficePool, name: str, count: int
) -> None:
    outcome, pages = await convert(docs[name], tmp_path, pool)
    assert (outcome.error_code, outcome.page_count, len(pages)) == (None, count, count)
    assert all(page.path.read_bytes().startswith(b"\x89PNG") for page in pages)


async def test_slides_are_landscape(
    docs: dict[str, Path], tmp_path: Path, pool: OfficePool
) -> None:
    _, pages = await convert(docs["slides.pptx"], tmp_path, pool)
    assert all(page.width > page.height for page in pages)


async def test_picture_is_rendered(docs: dict[str, Path], tmp_path: Path, pool: OfficePool) -> None:
    _, pages = await convert(docs["image.docx"], tmp_path, pool)
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


async def test_corrupt_docx_is_corrupt_file(
    docs: dict[str, Path], tmp_path: Path, pool: OfficePool
) -> None:
    outcome, pages = await convert(docs["corrupt.docx"], tmp_path, pool)
    assert (outcome.error_code, pages) == ("CORRUPT_FILE", [])
    assert not outcome.retriable


async def test_password_protected_docx_is_encrypted_document(
    docs: dict[str, Path], tmp_path: Path, pool: OfficePool
) -> None:
    outcome, pages = await convert(docs["encrypted.docx"], tmp_path, pool)
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
    tmp_path: Path, listener: tuple[str, list[str]], pool: OfficePool
) -> None:
    url, requests = listener
    source = tmp_path / "linked.docx"
    _external_image(source, url)
    outcome, pages = await convert(source, tmp_path, pool)
    assert (outcome.error_code, len(pages)) == (None, 1)
    assert requests == []


async def test_document_macros_never_run(tmp_path: Path, pool: OfficePool) -> None:
    source, marker = tmp_path / "macro.odt", tmp_path / "macro-ran.txt"
    _macro_document(source, marker)
    outcome, pages = await convert(source, tmp_path, pool)
    assert (outcome.error_code, len(pages)) == (None, 1)
    assert not marker.exists()


async def test_libreoffice_past_its_timeout_is_killed(
    docs: dict[str, Path], tmp_path: Path, fresh: OfficePool
) -> None:
    server = fresh.servers[0]
    await convert(docs["image.docx"], tmp_path / "warm", fresh)
    killed = _processes(server)
    hurried = get_settings().model_copy(update={"office_timeout": 0.5})
    outcome, pages = await convert(docs["long.docx"], tmp_path / "long", fresh, hurried)
    assert (outcome.error_code, outcome.retriable, pages) == ("TIMEOUT", False, [])
    assert not office.rendition_path(tmp_path / "long" / "pages").exists()
    await _wait_gone(killed)
    outcome, pages = await convert(docs["image.docx"], tmp_path / "next", fresh)
    assert (outcome.error_code, len(pages)) == (None, 1)
    assert server.pid not in killed


def _processes(server: object) -> list[int]:
    """The bridge's and soffice's pids of a running instance."""
    pids = [getattr(server, "bridge_pid", None), getattr(server, "pid", None)]
    assert all(isinstance(pid, int) for pid in pids)
    return [pid for pid in pids if isinstance(pid, int)]


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _wait_gone(pids: list[int], timeout: float = 10) -> None:
    await eventually(lambda: all(_dead(pid) for pid in pids), timeout, f"{pids} to exit")


async def test_one_libreoffice_converts_document_after_document(
    docs: dict[str, Path], tmp_path: Path, fresh: OfficePool
) -> None:
    seen = []
    for number, name in enumerate(["image.docx", "sheet.xlsx", "slides.pptx"]):
        outcome, _ = await convert(docs[name], tmp_path / str(number), fresh)
        assert outcome.error_code is None
        seen.append(fresh.servers[0].pid)
    assert seen[0] is not None
    assert seen == [seen[0]] * 3


async def test_libreoffice_is_replaced_after_recycle_after_documents(
    docs: dict[str, Path], tmp_path: Path, fresh: OfficePool
) -> None:
    settings = get_settings().model_copy(update={"office_recycle_after": 2})
    server = fresh.servers[0]
    await convert(docs["image.docx"], tmp_path / "1", fresh, settings)
    first, profile = _processes(server), server.profile
    outcome, _ = await convert(docs["image.docx"], tmp_path / "2", fresh, settings)
    assert outcome.error_code is None
    assert server.pid is None  # retired right after its second document
    await _wait_gone(first)
    assert profile is not None and not profile.exists()
    outcome, _ = await convert(docs["image.docx"], tmp_path / "3", fresh, settings)
    assert outcome.error_code is None
    assert server.pid is not None and server.pid not in first


async def test_killed_libreoffice_gives_a_retriable_failure_and_the_next_document_converts(
    docs: dict[str, Path], tmp_path: Path, fresh: OfficePool
) -> None:
    server = fresh.servers[0]
    await convert(docs["image.docx"], tmp_path / "warm", fresh)
    victim = server.pid
    assert victim is not None
    soffice = psutil.Process(victim)
    idle_cpu = _cpu_seconds(soffice)
    running = asyncio.create_task(convert(docs["long.docx"], tmp_path / "long", fresh))

    async def at_work() -> bool:
        return _cpu_seconds(soffice) > idle_cpu + 0.2

    await wait_for(at_work, "LibreOffice to work on the long document", 30)
    assert not running.done()
    os.kill(victim, signal.SIGKILL)
    outcome, pages = await running
    assert outcome.retriable, outcome
    assert outcome.error_code in ("WORKER_CRASHED", "RESOURCE_LIMIT")
    assert pages == []
    outcome, pages = await convert(docs["image.docx"], tmp_path / "next", fresh)
    assert (outcome.error_code, len(pages)) == (None, 1)
    assert server.pid not in (None, victim)


async def test_shutdown_leaves_no_libreoffice_and_no_profile(
    docs: dict[str, Path], tmp_path: Path
) -> None:
    own = OfficePool(2)
    results = await asyncio.gather(
        convert(docs["image.docx"], tmp_path / "a", own),
        convert(docs["sheet.xlsx"], tmp_path / "b", own),
    )
    assert [outcome.error_code for outcome, _ in results] == [None, None]
    pids = [pid for server in own.servers for pid in _processes(server)]
    profiles = [server.profile for server in own.servers]
    assert len(set(pids)) == 4  # two instances, each a bridge and a soffice
    await own.close()
    assert all(_dead(pid) for pid in pids)
    assert all(profile is not None and not profile.exists() for profile in profiles)


async def test_retried_attempt_reuses_the_rendition(
    docs: dict[str, Path], tmp_path: Path, pool: OfficePool, fresh: OfficePool
) -> None:
    outcome, _ = await convert(docs["slides.pptx"], tmp_path, pool)
    assert outcome.error_code is None
    for page in (tmp_path / "pages").iterdir():
        page.unlink()
    outcome, pages = await convert(docs["slides.pptx"], tmp_path, fresh)
    assert (outcome.error_code, len(pages)) == (None, 2)
    assert fresh.servers[0].pid is None  # never started: the PDF was there


ORPHAN = """
import asyncio, json, os, sys
from pathlib import Path
from settings import get_settings
from tasks.sandbox.office_pool import OfficePool

async def main() -> None:
    pool = OfficePool(1)
    await pool.to_pdf(Path(sys.argv[1]), "docx", Path(sys.argv[2]), get_settings())
    server = pool.servers[0]
    print(json.dumps([server.bridge_pid, server.pid, str(server.profile)]), flush=True)
    os._exit(0)  # as a worker killed with SIGKILL: no shutdown

asyncio.run(main())
"""


async def test_libreoffice_of_a_dead_worker_stops_and_removes_its_profile(
    docs: dict[str, Path], tmp_path: Path
) -> None:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", ORPHAN, str(docs["image.docx"]), str(tmp_path / "out.pdf")],
        capture_output=True, text=True, timeout=120, check=True,
        cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    bridge, soffice, profile = json.loads(done.stdout.strip().splitlines()[-1])
    await _wait_gone([bridge, soffice])
    assert not Path(profile).exists()
