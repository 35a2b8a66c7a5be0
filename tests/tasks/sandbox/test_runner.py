"""run_conversion with real child processes: results, timeouts, memory caps, cancellation,
and warm children reused between documents."""

from __future__ import annotations

import asyncio
import os
import signal
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pikepdf
import psutil
import pytest

from settings import Settings
from tasks.engine.errors import ConversionError
from tasks.engine.pages import PageResult
from tasks.engine.pdf_ghostscript import _raise_gs_failure
from tasks.sandbox.pool import close_pool, get_pool
from tasks.sandbox.procs import exit_code
from tasks.sandbox.runner import (
    ConversionJob,
    ConversionOutcome,
    LeaseExpired,
    limits_from_settings,
    run_conversion,
)
from tasks.service import control
from tests.gql.support import wait_for
from tests.waiting import eventually

DEADLINE = 30.0


@pytest.fixture(autouse=True, scope="module")
async def nothing_else_converts(db: str) -> AsyncIterator[None]:
    """The session's embedded app converts what earlier tests left pending, with this same
    pool: processing is paused here, so the pool's children are these tests' alone."""
    await control.set_paused(True)

    async def idle() -> bool:
        return not get_pool().busy

    await wait_for(idle, "the conversions of earlier tests to finish")
    yield
    await control.set_paused(False)


class Recorder:
    """Callbacks that record what the child announced, and the child's process group."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self.pages: list[PageResult] = []
        self.started = asyncio.Event()
        self.group: int | None = None
        self.scratch: Path | None = None

    async def on_count(self, count: int) -> None:
        self.counts.append(count)
        [child] = get_pool().busy
        self.group = os.getpgid(child.pid)
        self.scratch = child.scratch
        self.started.set()

    async def on_page(self, page: PageResult) -> None:
        self.pages.append(page)


async def convert(
    source: Path, out: Path, recorder: Recorder, **settings: object
) -> ConversionOutcome:
    return await run_conversion(
        ConversionJob(source, "pdf", out, []),
        settings=Settings(**settings),  # type: ignore[arg-type]
        on_count=recorder.on_count,
        on_page=recorder.on_page,
    )


def group_members(group: int) -> list[int]:
    """Live (non-zombie) processes in a process group."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == group and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


async def wait_group_is(group: int, members: list[int]) -> None:
    await eventually(
        lambda: sorted(group_members(group)) == members,
        DEADLINE,
        f"group {group} to hold processes {members} (has {sorted(group_members(group))})",
        interval=0.05,
    )


async def wait_group_gone(group: int) -> None:
    await wait_group_is(group, [])


async def test_pdf_converts_in_the_child(inputs: dict[str, Path], tmp_path: Path) -> None:
    recorder = Recorder()
    outcome = await convert(inputs["mixed_pdf"], tmp_path, recorder)
    assert outcome == ConversionOutcome(5, None, None, retriable=False)
    assert recorder.counts == [5]
    assert [p.number for p in recorder.pages] == [1, 2, 3, 4, 5]
    assert all(p.path.is_file() and p.path.parent == tmp_path for p in recorder.pages)
    # The child stays warm for the next document; its Ghostscript is gone.
    assert recorder.group is not None
    await wait_group_is(recorder.group, [recorder.group])


async def test_warm_child_serves_documents_until_its_limit(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    groups = []
    for n in range(3):
        recorder = Recorder()
        outcome = await convert(inputs["a4_pdf"], tmp_path / str(n), recorder, child_max_jobs=2)
        assert outcome.page_count == 1
        groups.append(recorder.group)
    assert groups[0] == groups[1] != groups[2]
    assert groups[0] is not None
    await wait_group_gone(groups[0])  # retired after its second document


async def test_typed_input_errors_keep_the_child(inputs: dict[str, Path], tmp_path: Path) -> None:
    first, second = Recorder(), Recorder()
    outcome = await convert(inputs["damaged_pdf"], tmp_path / "a", first)
    assert outcome.error_code == "CORRUPT_FILE"
    assert (await convert(inputs["a4_pdf"], tmp_path / "b", second)).page_count == 1
    assert first.group == second.group


async def test_closing_the_pool_stops_idle_children(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    recorder = Recorder()
    await convert(inputs["a4_pdf"], tmp_path, recorder)
    assert recorder.group is not None and group_members(recorder.group)
    await close_pool()
    await wait_group_gone(recorder.group)


async def test_recorded_pages_are_not_sent_again(inputs: dict[str, Path], tmp_path: Path) -> None:
    await convert(inputs["many_pages_pdf"], tmp_path, Recorder())
    recorder = Recorder()
    outcome = await run_conversion(
        ConversionJob(inputs["many_pages_pdf"], "pdf", tmp_path, list(range(1, 11))),
        settings=Settings(),
        on_count=recorder.on_count,
        on_page=recorder.on_page,
    )
    assert outcome.page_count == 12
    assert [p.number for p in recorder.pages] == [11, 12]


async def test_a_lost_lease_kills_the_child_before_it_renders_on(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    recorder = Recorder()
    pages = tmp_path / "pages"

    def held() -> bool:
        return len(recorder.pages) < 2  # the lease runs out once two pages are recorded

    with pytest.raises(LeaseExpired):
        await run_conversion(
            ConversionJob(inputs["many_pages_pdf"], "pdf", pages, []),
            settings=Settings(),
            on_count=recorder.on_count,
            on_page=recorder.on_page,
            held=held,
        )

    assert recorder.group is not None
    await wait_group_gone(recorder.group)
    # The third page was rendered (in the attempt's own folder) but never moved into place.
    assert sorted(p.name for p in pages.iterdir()) == ["0001.png", "0002.png"]
    assert not list(tmp_path.glob(".attempt-*"))
    assert recorder.scratch is not None and not recorder.scratch.exists()  # its TMPDIR


async def test_typed_failure_is_not_retriable(inputs: dict[str, Path], tmp_path: Path) -> None:
    outcome = await convert(inputs["user_password_pdf"], tmp_path, Recorder())
    assert outcome.error_code == "ENCRYPTED_PDF"
    assert outcome.retriable is False


async def test_damaged_pdf_reports_pages_kept(inputs: dict[str, Path], tmp_path: Path) -> None:
    recorder = Recorder()
    outcome = await convert(inputs["damaged_pdf"], tmp_path, recorder)
    assert (outcome.error_code, outcome.retriable) == ("CORRUPT_FILE", False)
    assert "page 3" in (outcome.error_message or "")
    assert [p.number for p in recorder.pages] == [1, 2]


async def test_timeout_kills_the_whole_group(inputs: dict[str, Path], tmp_path: Path) -> None:
    recorder = Recorder()
    outcome = await convert(inputs["slow_pdf"], tmp_path, recorder, document_timeout=2.0)
    assert (outcome.error_code, outcome.retriable) == ("TIMEOUT", False)
    assert recorder.group is not None
    await wait_group_gone(recorder.group)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("cap_mb", [100, 150])
async def test_memory_cap_gives_a_retriable_resource_limit(
    inputs: dict[str, Path], tmp_path: Path, image_engine: str, cap_mb: int
) -> None:
    # 100 MB is too little even to load libvips' libraries; at 150 MB it cannot start its
    # worker threads, ImageMagick its pixel cache.
    outcome = await convert(
        inputs["big_jpeg"],
        tmp_path,
        Recorder(),
        memory_limit_mb=cap_mb,
        magick_disk_mb=1,
        image_engine=image_engine,
    )
    assert (outcome.error_code, outcome.retriable) == ("RESOURCE_LIMIT", True)
    assert not list(tmp_path.glob("*.png*"))


def pdf_with_a_huge_image(path: Path, side: int = 12_000) -> Path:
    """One Letter page showing a side x side RGB image of zeros: a 400 KB file that PDFium
    decodes into 432 MB."""
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, zlib.compress(bytes(side * side * 3), 9))
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = side, side, 8
    image.ColorSpace, image.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.FlateDecode
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image)),
        Contents=pikepdf.Stream(pdf, b"q 612 0 0 792 0 0 cm /Im0 Do Q"),
    )
    pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)
    return path


async def test_pdfium_draws_a_huge_image_within_the_memory_cap(tmp_path: Path) -> None:
    source = pdf_with_a_huge_image(tmp_path / "huge-image.pdf")
    recorder = Recorder()
    outcome = await convert(source, tmp_path / "pages", recorder, memory_limit_mb=300)
    assert (outcome.page_count, outcome.error_code) == (1, None), outcome
    assert [(p.width, p.height) for p in recorder.pages] == [(2550, 3300)]


def test_pdfium_out_of_memory_is_a_resource_limit() -> None:
    # PDFium aborts when an allocation fails under the cap.
    assert exit_code(-signal.SIGABRT) == "RESOURCE_LIMIT"


async def test_a_killed_attempt_leaves_no_folder_and_spares_another_attempts_files(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    # Another attempt of the same document, live (it renders in a folder of its own).
    pages = tmp_path / "pages"
    other = tmp_path / ".attempt-other"
    other.mkdir()
    (other / "0001.png.tmp").write_bytes(b"\x89PNG half a page")
    outcome = await convert(inputs["big_jpeg"], pages, Recorder(), document_timeout=0.01)

    assert outcome.error_code == "TIMEOUT", outcome
    assert [p.name for p in tmp_path.glob(".attempt-*")] == [".attempt-other"]
    assert (other / "0001.png.tmp").exists()
    assert not list(pages.glob("*")) if pages.exists() else True


async def test_cap_too_small_for_the_libraries_is_a_resource_limit(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    outcome = await convert(inputs["a4_pdf"], tmp_path, Recorder(), memory_limit_mb=40)
    assert (outcome.error_code, outcome.retriable) == ("RESOURCE_LIMIT", True)
    assert "memory_limit_mb=40" in (outcome.error_message or "")


def test_ghostscript_out_of_memory_is_a_resource_limit() -> None:
    # Ghostscript bands pages through a display list when memory is short, so no real page
    # starves it under a cap the child itself runs in: check the mapping of what it says.
    for said in (b"GPL Ghostscript: VMerror in setpagedevice", b"failed to map segment"):
        with pytest.raises(ConversionError) as caught:
            _raise_gs_failure(3, 1, said)
        assert caught.value.code == "RESOURCE_LIMIT"
    with pytest.raises(ConversionError) as caught:
        _raise_gs_failure(3, -signal.SIGKILL, b"")
    assert caught.value.code == "RESOURCE_LIMIT"
    with pytest.raises(ConversionError) as caught:
        _raise_gs_failure(3, 1, b"**** Error: syntaxerror in stream")
    assert caught.value.code == "CORRUPT_FILE"


async def test_bomb_is_rejected_within_a_small_memory_cap(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    # 256 MB: enough for the child's libraries, far too little to decode 50000x50000 pixels.
    outcome = await convert(inputs["png_bomb"], tmp_path, Recorder(), memory_limit_mb=256)
    assert (outcome.error_code, outcome.retriable) == ("TOO_LARGE", False)


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGKILL, "RESOURCE_LIMIT"), (signal.SIGTERM, "WORKER_CRASHED")]
)
async def test_child_killed_from_outside_is_retriable(
    inputs: dict[str, Path], tmp_path: Path, sig: signal.Signals, code: str
) -> None:
    recorder = Recorder()
    task = asyncio.create_task(convert(inputs["slow_pdf"], tmp_path, recorder))
    await asyncio.wait_for(recorder.started.wait(), DEADLINE)
    assert recorder.group is not None
    os.kill(recorder.group, sig)  # the child leads its group: its pid is the group id
    outcome = await asyncio.wait_for(task, DEADLINE)
    assert (outcome.error_code, outcome.retriable) == (code, True)
    await wait_group_gone(recorder.group)
    after = Recorder()
    assert (await convert(inputs["a4_pdf"], tmp_path / "next", after)).page_count == 1
    assert after.group != recorder.group


async def test_cancellation_kills_the_child(inputs: dict[str, Path], tmp_path: Path) -> None:
    recorder = Recorder()
    task = asyncio.create_task(convert(inputs["slow_pdf"], tmp_path, recorder))
    await asyncio.wait_for(recorder.started.wait(), DEADLINE)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.group is not None
    await wait_group_gone(recorder.group)


def test_limits_follow_settings() -> None:
    limits = limits_from_settings(Settings(max_side=1000, max_pages=7, png_compression_level=3))
    assert (limits.max_side, limits.max_pages, limits.png_compression_level) == (1000, 7, 3)
    assert limits.max_density == Settings().max_density
