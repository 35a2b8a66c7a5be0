"""Per-input conversion: pagemill's conversion child against the one-process floor and
vipsthumbnail, interleaved round by round.

pagemill and the floor (bench/floor.py) each run as a warm process, timed from the job line
to its last protocol line; vipsthumbnail (images) is a whole process. Every tool writes the
same pixel size at the same deflate level, single-threaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from PIL import Image

from bench.inputs import Input
from bench.measure import MiB, Run, measure, median
from bench.warm import WarmChild, child_env, child_job

PROJECT = Path(__file__).resolve().parents[1]
MAX_SIDE = 3500


@dataclass
class ToolResult:
    """All runs of one tool on one input."""

    tool: str
    runs: list[Run] = field(default_factory=list)
    size: tuple[int, int] | None = None  # first page's pixel size
    error: str | None = None

    @property
    def seconds(self) -> float:
        return median([r.seconds for r in self.runs])

    @property
    def cpu_seconds(self) -> float:
        return median([r.cpu_seconds for r in self.runs])

    @property
    def peak_mb(self) -> float:
        return max(r.peak_rss for r in self.runs) / MiB

    def row(self) -> dict[str, object]:
        """The tool's line in results.json."""
        done = bool(self.runs)
        return {
            "tool": self.tool,
            "seconds": self.seconds if done else None,
            "cpu_seconds": self.cpu_seconds if done else None,
            "peak_mb": self.peak_mb if done else None,
            "runs": [round(r.seconds, 3) for r in self.runs],
            "size": list(self.size) if self.size else None,
            "error": self.error,
        }


class FloorProcess(WarmChild):
    """`python -m bench.floor`, kept warm like the conversion child."""

    def __init__(self, env: dict[str, str]) -> None:  # noqa: D107 - same shape as WarmChild
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.floor"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=PROJECT,
            text=True,
            start_new_session=True,
        )
        self.ps = psutil.Process(self.proc.pid)


def floor_job(inp: Input, pages_dir: Path, level: int) -> dict[str, object]:
    """The floor's job for inp."""
    return {"source": str(inp.path), "kind": inp.kind, "pages_dir": str(pages_dir), "level": level}


def png_level() -> int:
    """The deflate level pagemill is configured with (the floors use the same)."""
    from settings import Settings

    return Settings().png_compression_level


def bench_input(
    inp: Input, repeats: int, log: Callable[[str], None], warm: tuple[WarmChild, WarmChild]
) -> list[ToolResult]:
    """pagemill, the floor and (images) vipsthumbnail `repeats` times on inp, rotating order."""
    child, floor = warm
    tools = [ToolResult("pagemill"), ToolResult("floor")]
    if inp.kind != "pdf":
        tools.append(ToolResult("vipsthumbnail"))
    home = Path(child.env["HOME"])
    for round_no in range(repeats):
        shift = round_no % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            _one_run(tool, inp, home / "out", (child, floor), log)
    return tools


def _one_run(
    tool: ToolResult,
    inp: Input,
    out: Path,
    warm: tuple[WarmChild, WarmChild],
    log: Callable[[str], None],
) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        run = _run(tool.tool, inp, out, warm)
    except (RuntimeError, OSError) as exc:
        tool.error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        log(f"  {inp.name} {tool.tool}: FAILED {tool.error}")
        return
    tool.runs.append(run)
    tool.size = _first_png(out)
    log(
        f"  {inp.name} {tool.tool}: {run.seconds:.2f}s cpu {run.cpu_seconds:.2f}s"
        f" {run.peak_rss / MiB:.0f}MB {tool.size}"
    )


def _run(tool: str, inp: Input, out: Path, warm: tuple[WarmChild, WarmChild]) -> Run:
    child, floor = warm
    if tool == "pagemill":
        lines, run = child.job(child_job(inp, out))
    elif tool == "floor":
        lines, run = floor.job(floor_job(inp, out, png_level()))
    else:
        box = f"{MAX_SIDE}x{MAX_SIDE}>"
        target = str(out / f"%s.png[compression={png_level()}]")
        argv = ["vipsthumbnail", "--vips-concurrency=1", str(inp.path), "--size", box, "-o", target]
        return measure(argv, env=child.env)
    errors = [x for x in lines if x.get("event") == "error"]
    if errors:
        raise RuntimeError(f"{tool} failed: {json.dumps(errors)[:300]}")
    return run


def _first_png(out: Path) -> tuple[int, int] | None:
    pngs = sorted(out.rglob("*.png"))
    if not pngs:
        return None
    with Image.open(pngs[0]) as img:
        return img.size


def bench_all(
    inputs: list[Input], repeats: int, log: Callable[[str], None]
) -> dict[str, list[ToolResult]]:
    """Every input through one warm conversion child and one warm floor process."""
    results: dict[str, list[ToolResult]] = {}
    with tempfile.TemporaryDirectory(prefix="pagemill-bench-") as tmp:
        env = child_env(Path(tmp))
        with WarmChild(env) as child, FloorProcess(env) as floor:
            warmed: set[str] = set()
            for inp in sorted(inputs, key=lambda i: i.pages):
                log(f"conversion: {inp.name}")
                if inp.kind not in warmed:
                    # An unmeasured run of the smallest input of each kind first: the first
                    # document of a kind pays the libraries' loads, in either process.
                    for tool in ("pagemill", "floor"):
                        _run(tool, inp, Path(tmp) / "warm", (child, floor))
                    shutil.rmtree(Path(tmp) / "warm", ignore_errors=True)
                    warmed.add(inp.kind)
                results[inp.name] = bench_input(inp, repeats, log, (child, floor))
    return results


def floor_batch(paths: list[Path], log: Callable[[str], None]) -> float:
    """Seconds the one-process image floor takes for the whole small batch."""
    with tempfile.TemporaryDirectory(prefix="pagemill-bench-") as tmp:
        env = child_env(Path(tmp))
        with FloorProcess(env) as floor:
            total = 0.0
            for n, path in enumerate(paths):
                kind = "jpeg" if path.suffix == ".jpg" else "png"
                out = Path(tmp) / f"{n:03d}"
                lines, run = floor.job(floor_job(Input(path.name, path, kind, 1), out, png_level()))
                total += run.seconds
    log(f"  floor: {len(paths)} images in {total:.1f}s = {len(paths) / total:.2f} docs/s")
    return total


def floor_seconds(inp: Input, log: Callable[[str], None]) -> float:
    """One warm floor run of inp (when the conversion part did not run in this invocation)."""
    with (
        tempfile.TemporaryDirectory(prefix="pagemill-bench-") as tmp,
        FloorProcess(child_env(Path(tmp))) as floor,
    ):
        floor.job(floor_job(inp, Path(tmp) / "warm", png_level()))
        _, run = floor.job(floor_job(inp, Path(tmp) / "out", png_level()))
    log(f"  floor {inp.name}: {run.seconds:.2f}s")
    return run.seconds
