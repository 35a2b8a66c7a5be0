"""Property: any mutation of a real PDF, PNG or JPEG converts to pages or fails with a typed
error code through the real, memory-capped child; the runner never raises and leaves no
temporary files. HYPOTHESIS_EXAMPLES raises the volume (e.g. 1000) for a local run; each
failing input is also written under HYPOTHESIS_KEEP (a directory) when set."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from models.upload import ErrorCode
from settings import get_settings
from tasks.sandbox.pool import close_pool
from tasks.sandbox.runner import ConversionJob, ConversionOutcome, run_conversion
from tests.fixtures.make import A4, PdfPage, build_pdf, gradient

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "150"))
KEEP = os.environ.get("HYPOTHESIS_KEEP")
OUTCOMES: Counter[str] = Counter()


def _seeds() -> list[bytes]:
    """Small real files of each kind: mutations of them reach deep into each parser."""
    seeds = []
    for fmt, kwargs in (("PNG", {}), ("JPEG", {"quality": 80}), ("JPEG", {"progressive": True})):
        buffer = io.BytesIO()
        gradient(96, 64).save(buffer, fmt, **kwargs)
        seeds.append(buffer.getvalue())
    buffer = io.BytesIO()
    gradient(40, 40, "RGBA").convert("P").save(buffer, "PNG")
    seeds.append(buffer.getvalue())
    with tempfile.TemporaryDirectory() as scratch:
        text = build_pdf(Path(scratch) / "a.pdf", [PdfPage(*A4), PdfPage(200, 100, rotate=90)])
        seeds.append(text.read_bytes())
        compressed = build_pdf(
            Path(scratch) / "b.pdf",
            [PdfPage(300, 300)],
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
        )
        seeds.append(compressed.read_bytes())
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 200, 30)).save(buffer, "PDF", resolution=72)
    seeds.append(buffer.getvalue())
    return seeds


SEEDS = _seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with a few bit flips, overwrites, truncations, insertions or splices."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    # Mostly spare the magic bytes, or most inputs would stop at the sniffer.
    floor = 16 if draw(st.integers(0, 3)) else 0
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "splice", "dup"]))
        size = len(data)
        if size <= floor:
            break
        at = draw(st.integers(floor, size - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "splice":
            other = draw(st.sampled_from(SEEDS))
            start = draw(st.integers(0, len(other) - 1))
            data[at:] = other[start:]
        else:
            end = draw(st.integers(at, min(size, at + 512)))
            data[at:at] = data[at:end]
    return bytes(data)


async def _convert(source: Path, pages: Path, engine: str) -> ConversionOutcome:
    async def ignore(_: object) -> None:
        return None

    job = ConversionJob(source=source, kind="pdf", pages_dir=pages)
    # Each image engine is paired with a PDF engine: both of each kind are fuzzed.
    pdf_engine = "pdfium" if engine == "vips" else "ghostscript"
    chosen = get_settings().model_copy(update={"image_engine": engine, "pdf_engine": pdf_engine})
    return await run_conversion(job, settings=chosen, on_count=ignore, on_page=ignore)


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for every example, so that they share warm conversion children as a
    worker's documents do (a loop per example would start a child per example)."""
    with asyncio.Runner() as loop:
        yield loop
        loop.run(close_pool())


@pytest.mark.parametrize("engine", ["vips", "wand"])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(data=mutated())
def test_mutated_files_convert_or_fail_typed(
    runner: asyncio.Runner, engine: str, data: bytes
) -> None:
    with tempfile.TemporaryDirectory(prefix="pagemill-fuzz-") as scratch:
        source = Path(scratch) / "input"
        source.write_bytes(data)
        pages = Path(scratch) / "pages"
        outcome = runner.run(_convert(source, pages, engine))  # raising fails the property
        OUTCOMES[outcome.error_code or "OK"] += 1
        leftovers = sorted(p.name for p in Path(scratch).rglob("*.tmp"))
        typed = outcome.error_code in {code.value for code in ErrorCode}
        crashed = outcome.error_code == "WORKER_CRASHED"
        ok = outcome.error_code is None and (outcome.page_count or 0) >= 1
        if KEEP and (crashed or leftovers or not (ok or typed)):
            name = hashlib.sha256(data).hexdigest()[:16]
            Path(KEEP).mkdir(parents=True, exist_ok=True)
            (Path(KEEP) / name).write_bytes(data)
            (Path(KEEP) / f"{name}.txt").write_text(repr(outcome))
        assert not leftovers, leftovers
        assert ok or typed, outcome
        assert not crashed, outcome
        if ok:
            rendered = sorted(pages.glob("*.png"))
            assert len(rendered) == outcome.page_count, (rendered, outcome)


def teardown_module() -> None:
    """Shows what the run produced (pytest -s)."""
    print(f"\nfuzz outcomes: {dict(OUTCOMES)}")  # noqa: T201 - a summary for the operator
