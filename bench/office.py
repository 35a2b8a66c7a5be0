"""DOCX to PDF: the warm LibreOffice of a worker against a cold `soffice --convert-to pdf`.

`uv run python -m bench.office` prints a markdown table; `run()` returns the numbers. Both
ways run in the same network namespace jail and with a profile that already exists (a cold
start with a fresh profile is slower still); times are medians, per DOCX page.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import docx
import pikepdf
import psutil
from docx.shared import Inches
from PIL import Image, ImageDraw

from bench.measure import MiB, measure
from settings import get_settings
from tasks.sandbox.office_jail import jail_prefix
from tasks.sandbox.office_pool import OfficePool

PAGES = {"docx-1p": 1, "docx-20p": 20}
WARM_REPEATS = 5
COLD_REPEATS = 3
SAMPLE_SECONDS = 0.01


def make_docx(path: Path, pages: int) -> Path:
    """A DOCX of `pages` pages: headings, text, a table every third page, a picture every fifth."""
    document = docx.Document()
    for page in range(pages):
        document.add_heading(f"Section {page + 1}", level=1)
        for paragraph in range(3):
            document.add_paragraph(f"Page {page + 1}, paragraph {paragraph + 1}. " * 12)
        if page % 3 == 0:
            table = document.add_table(rows=4, cols=3)
            for row in table.rows:
                for cell in row.cells:
                    cell.text = f"cell {page}"
        if page % 5 == 0:
            document.add_picture(_picture(page), width=Inches(2))
        if page < pages - 1:
            document.add_page_break()  # type: ignore[no-untyped-call]
    document.save(str(path))
    return path


def _picture(seed: int) -> io.BytesIO:
    image = Image.new("RGB", (600, 400), (seed * 40 % 256, 120, 200))
    ImageDraw.Draw(image).ellipse((50, 50, 550, 350), fill=(250, 200, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    buffer.seek(0)
    return buffer


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


class _RssPeak(threading.Thread):
    """Peak RSS of one process, sampled every few milliseconds."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            process = psutil.Process(self.pid)
            while not self.stop.is_set():
                self.peak = max(self.peak, process.memory_info().rss)
                self.stop.wait(SAMPLE_SECONDS)
        except psutil.NoSuchProcess:
            return


async def _warm(sources: dict[str, Path], out: Path) -> dict[str, Any]:
    settings = get_settings()
    pool = OfficePool(1)
    server = pool.servers[0]
    try:
        started = time.perf_counter()
        await pool.to_pdf(sources["docx-1p"], "docx", out / "first.pdf", settings)
        first = time.perf_counter() - started
        assert server.pid is not None  # noqa: S101 (just started)
        results: dict[str, Any] = {"first_document_s": first}
        for name, source in sources.items():
            sampler = _RssPeak(server.pid)
            sampler.start()
            times = []
            pids = [server.pid, server.bridge_pid or server.pid]
            cpu = _cpu(pids)
            for repeat in range(WARM_REPEATS):
                started = time.perf_counter()
                await pool.to_pdf(source, "docx", out / f"{name}-{repeat}.pdf", settings)
                times.append(time.perf_counter() - started)
            sampler.stop.set()
            sampler.join()
            results[name] = {
                "seconds": statistics.median(times),
                "cpu_seconds": (_cpu(pids) - cpu) / WARM_REPEATS,
                "peak_rss": sampler.peak,
            }
        return results
    finally:
        await pool.close()


def _cold(source: Path, out: Path, profile: Path, jail: list[str]) -> tuple[float, float, int]:
    soffice = shutil.which("soffice") or "soffice"
    command = [
        *jail, soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
        "--invisible", "--norestore", "--nolockcheck", "--nodefault", "--nologo",
        "--convert-to", "pdf", "--outdir", str(out), str(source),
    ]  # fmt: skip
    run = measure(command, timeout=120)
    return run.seconds, run.cpu_seconds, run.peak_rss


def run() -> dict[str, Any]:
    """Warm vs cold seconds per DOCX page and LibreOffice's peak RSS, for each input."""
    with tempfile.TemporaryDirectory(prefix="bench-office-") as scratch:
        root = Path(scratch)
        sources = {name: make_docx(root / f"{name}.docx", pages) for name, pages in PAGES.items()}
        warm = asyncio.run(_warm(sources, root))
        jail = asyncio.run(jail_prefix())
        profile = root / "cold-profile"
        _cold(sources["docx-1p"], root / "cold", profile, jail)  # creates the profile
        results: dict[str, Any] = {"warm_first_document_s": warm["first_document_s"]}
        for name, source in sources.items():
            colds = [_cold(source, root / "cold", profile, jail) for _ in range(COLD_REPEATS)]
            with pikepdf.open(root / f"{name}-0.pdf") as pdf:
                pages = len(pdf.pages)
            cold_s = statistics.median(seconds for seconds, _, _ in colds)
            cold_cpu = statistics.median(cpu for _, cpu, _ in colds)
            warm_s = float(warm[name]["seconds"])
            results[name] = {
                "pages": pages,
                "warm_s_per_page": warm_s / pages,
                "cold_s_per_page": cold_s / pages,
                "warm_cpu_s_per_page": float(warm[name]["cpu_seconds"]) / pages,
                "cold_cpu_s_per_page": cold_cpu / pages,
                "speedup": cold_s / warm_s,
                "warm_peak_rss_mb": warm[name]["peak_rss"] / MiB,
                "cold_peak_rss_mb": max(rss for _, _, rss in colds) / MiB,
            }
        return results


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown table."""
    lines = [
        "| input | pages | warm s/page (cpu) | cold s/page (cpu) | cold/warm | "
        "LibreOffice peak RSS MB warm (cold tree) |",
        "|---|---|---|---|---|---|",
    ]
    for name in PAGES:
        row = results[name]
        lines.append(
            f"| {name} | {row['pages']} | {row['warm_s_per_page']:.3f} "
            f"({row['warm_cpu_s_per_page']:.3f}) | {row['cold_s_per_page']:.3f} "
            f"({row['cold_cpu_s_per_page']:.3f}) | {row['speedup']:.1f}x | "
            f"{row['warm_peak_rss_mb']:.0f} ({row['cold_peak_rss_mb']:.0f}) |"
        )
    first = results["warm_first_document_s"]
    lines.append(f"\nwarm instance start plus its first 1-page document: {first:.2f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    started = time.perf_counter()
    table = markdown(run())
    print(table)  # noqa: T201
    print(f"\n({time.perf_counter() - started:.0f} s)")  # noqa: T201
