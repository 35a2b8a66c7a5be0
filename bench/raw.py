"""Per-input conversion: pagemill's conversion child against raw rasterisers, interleaved.

Every tool renders the same input to PNG at the same pixel size (fit within 3500x3500, PDF
density capped at 300 dpi), single-threaded like pagemill's conversion child, and with zlib
level 1 and adaptive filters where the tool has a knob for it (ImageMagick, libvips);
Ghostscript and pdftoppm have none.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from PIL import Image

from bench.inputs import Input, letter_pdf, photo
from bench.measure import MiB, Run, measure, median
from bench.warm import WarmChild, child_env, child_job

PROJECT = Path(__file__).resolve().parents[1]
MAX_SIDE = 3500
MAX_DENSITY = 300.0
# Raw tools slower than this multiple of the fastest raw tool in the first round cannot be
# the fastest: they are not run again, which keeps `make bench` within its time budget.
SCREEN_FACTOR = 1.5
# A raw tool's first run is stopped past this multiple of the fastest run seen on the input
# (its later runs, if it is still a contender, are never stopped).
STOP_FACTOR = 1.5
MIN_STOP_SECONDS = 10.0
# Debian's policy forbids ImageMagick's PDF coder; a policy under $HOME (read last) lifts it
# for the benchmark's own `convert` runs without touching the system file.
PDF_POLICY = """<policymap>
  <policy domain="coder" rights="read|write" pattern="{PDF,PS,EPS,PNG,JPEG}" />
</policymap>
"""


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
    def peak_mb(self) -> float:
        return median([r.peak_rss / MiB for r in self.runs])


@dataclass
class InputResult:
    """pagemill and the raw tools on one input."""

    input: Input
    target: tuple[int, int]
    pagemill: ToolResult
    raw: list[ToolResult]

    @property
    def fastest(self) -> ToolResult | None:
        done = [t for t in self.raw if t.runs and t.error is None]
        return min(done, key=lambda t: t.seconds) if done else None


def target_size(inp: Input) -> tuple[tuple[int, int], float]:
    """The first page's output size and, for PDFs, the density that gives it."""
    if inp.kind == "pdf":
        with pikepdf.open(inp.path) as pdf:
            x0, y0, x1, y1 = (float(v) for v in pdf.pages[0].mediabox)
        w, h = x1 - x0, y1 - y0
        dpi = min(MAX_DENSITY, MAX_SIDE * 72 / max(w, h))
        return (round(w * dpi / 72), round(h * dpi / 72)), dpi
    with Image.open(inp.path) as img:
        w, h = img.size
    scale = min(1.0, MAX_SIDE / max(w, h))
    return (max(1, round(w * scale)), max(1, round(h * scale))), 0.0


def raw_commands(
    inp: Input, out: Path, dpi: float, target: tuple[int, int]
) -> dict[str, list[str]]:
    """The raw rasteriser command lines for this input, by tool name."""
    src = str(inp.path)
    if inp.kind == "pdf":
        return {
            # Anti-aliased like pagemill's own Ghostscript run (and pdftoppm by default).
            "gs": [
                "gs",
                "-q",
                "-dSAFER",
                "-dBATCH",
                "-dNOPAUSE",
                "-sDEVICE=png16m",
                "-dTextAlphaBits=4",
                "-dGraphicsAlphaBits=4",
                f"-r{dpi:.4f}",
                "-o",
                str(out / "%04d.png"),
                src,
            ],
            "pdftoppm": ["pdftoppm", "-png", "-r", f"{dpi:.4f}", src, str(out / "p")],
            "convert": [
                "/usr/bin/convert",
                "-limit",
                "thread",
                "1",
                "-density",
                f"{dpi:.4f}",
                f"pdf:{src}",
                "-quality",
                "15",
                str(out / "p-%04d.png"),
            ],
        }
    box = f"{MAX_SIDE}x{MAX_SIDE}>"
    hint = ["-define", f"jpeg:size={target[0]}x{target[1]}"] if inp.kind == "jpeg" else []
    return {
        "vipsthumbnail": [
            "vipsthumbnail",
            "--vips-concurrency=1",
            src,
            "--size",
            box,
            "-o",
            str(out / "%s.png[compression=1]"),
        ],
        "convert": [
            "/usr/bin/convert",
            "-limit",
            "thread",
            "1",
            *hint,
            f"{inp.kind}:{src}",
            "-auto-orient",
            "-resize",
            box,
            "-quality",
            "15",
            str(out / "p.png"),
        ],
    }


def _first_png(out: Path) -> tuple[int, int] | None:
    pngs = sorted(out.rglob("*.png"))
    if not pngs:
        return None
    with Image.open(pngs[0]) as img:
        return img.size


def _pagemill_run(child: WarmChild, inp: Input, out: Path) -> Run:
    lines, run = child.job(child_job(inp, out))
    errors = [x for x in lines if x.get("event") == "error"]
    if errors:
        raise RuntimeError(f"conversion child failed: {errors}")
    return run


def _warm_up(child: WarmChild, inp: Input, home: Path) -> None:
    """One small document of the same kind first, as a worker's child has seen before."""
    small = home / f"warm-up.{inp.kind}"
    if inp.kind == "pdf":
        letter_pdf(small, pages=1)
    else:
        photo(64, 48, seed=1).convert("RGBA" if inp.kind == "png" else "RGB").save(
            small, "PNG" if inp.kind == "png" else "JPEG"
        )
    warm = Input("warm-up", small, inp.kind, 1)
    _pagemill_run(child, warm, home / "warm-up")


def bench_input(inp: Input, repeats: int, log: Callable[[str], None]) -> InputResult:
    """Run pagemill and every raw tool `repeats` times on `inp`, interleaved round by round."""
    target, dpi = target_size(inp)
    with tempfile.TemporaryDirectory(prefix="pagemill-bench-") as tmp:
        home = Path(tmp)
        (home / ".config" / "ImageMagick").mkdir(parents=True)
        (home / ".config" / "ImageMagick" / "policy.xml").write_text(PDF_POLICY)
        env = child_env(home)
        pagemill = ToolResult("pagemill")
        raw = [ToolResult(name) for name in raw_commands(inp, home, dpi, target)]
        with WarmChild(env) as child:
            _warm_up(child, inp, home)
            for round_no in range(repeats):
                tools = [pagemill, *_still_running(raw, round_no)]
                # Rotate the order every round so drift (thermal, cache) hits every tool alike.
                shift = round_no % len(tools)
                for tool in tools[shift:] + tools[:shift]:
                    seen = [r.seconds for t in [pagemill, *raw] for r in t.runs]
                    # The first raw tool is the reference (Ghostscript, libvips): never stopped.
                    first = tool not in (pagemill, raw[0]) and not tool.runs and bool(seen)
                    stop = max(MIN_STOP_SECONDS, STOP_FACTOR * min(seen)) if first else None
                    _one_run(tool, inp, child, env, (dpi, target), stop, log)
        return InputResult(inp, target, pagemill, raw)


def _still_running(raw: list[ToolResult], round_no: int) -> list[ToolResult]:
    ok = [t for t in raw if t.error is None]
    if round_no == 0 or not ok:
        return ok
    best = min(t.seconds for t in ok)
    return [t for t in ok if t.seconds <= best * SCREEN_FACTOR]


def _one_run(
    tool: ToolResult,
    inp: Input,
    child: WarmChild,
    env: dict[str, str],
    size: tuple[float, tuple[int, int]],
    stop: float | None,
    log: Callable[[str], None],
) -> None:
    dpi, target = size
    home = Path(env["HOME"])
    out = home / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    try:
        if tool.tool == "pagemill":
            run = _pagemill_run(child, inp, out)
        else:
            run = measure(raw_commands(inp, out, dpi, target)[tool.tool], env=env, timeout=stop)
    except (RuntimeError, OSError) as exc:
        tool.error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        log(f"  {inp.name} {tool.tool}: FAILED {tool.error}")
        return
    tool.runs.append(run)
    tool.size = _first_png(out)
    log(f"  {inp.name} {tool.tool}: {run.seconds:.2f}s {run.peak_rss / MiB:.0f}MB {tool.size}")
