"""Time and peak RSS of one conversion child per input class, against raw Ghostscript.

    uv run python -m bench.engine_probe [WORKDIR]

Peak RSS is the largest of the child and its Ghostscript (wait4 rusage via /usr/bin/time).
CPU seconds (user + system, child and Ghostscript) are shown next to wall time because
wall time on a shared machine says little.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from PIL import Image

from bench.warm import child_argv
from settings import Settings
from tasks.engine.geometry import Limits, pdf_density
from tasks.sandbox.runner import ConversionJob, job_payload, limits_from_settings
from tests.fixtures.make import A0, A4, PdfPage, build_pdf, gradient


def photo(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A gradient with sensor-like noise: compresses like a photo, unlike a flat gradient."""
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    return Image.blend(gradient(width, height), noise, 0.25).convert(mode)


def make_inputs(work: Path) -> dict[str, tuple[Path, tuple[float, float] | None]]:
    """The measured inputs, with the page size in points for PDFs."""
    work.mkdir(parents=True, exist_ok=True)
    jpeg, png = work / "photo-12000x9000.jpg", work / "rgba-8000x8000.png"
    if not jpeg.exists():
        photo(12000, 9000).save(jpeg, quality=90)
    if not png.exists():
        image = photo(8000, 8000, "RGBA")
        image.putalpha(Image.linear_gradient("L").resize((8000, 8000)))
        image.save(png, compress_level=1)
    return {
        "A4 text page": (build_pdf(work / "a4.pdf", [PdfPage(*A4)]), A4),
        "A0 page": (build_pdf(work / "a0.pdf", [PdfPage(*A0)]), A0),
        "12000x9000 JPEG": (jpeg, None),
        "8000x8000 RGBA PNG": (png, None),
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(source: Path, out: Path, limits: Limits) -> tuple[float, float, float, int]:
    """Wall and CPU seconds, peak RSS in MiB and output bytes of one conversion child."""
    job = job_payload(ConversionJob(source, "x", out), Settings())
    job["limits"] = asdict(limits)
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", *child_argv(direct=False)],
        input=(json.dumps(job) + "\n").encode(),
        capture_output=True,
        check=True,
    )
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    if lines[-1]["event"] != "done":
        raise RuntimeError(lines[-1])
    rss = int(done.stderr.decode().strip().splitlines()[-1].split()[1]) / 1024
    return seconds, cpu, rss, sum(line["size_bytes"] for line in lines if line["event"] == "page")


def raw_gs(source: Path, size: tuple[float, float], device: str) -> tuple[float, float]:
    """Wall and CPU seconds for Ghostscript alone on the same page at the same density."""
    dpi = pdf_density(*size, Limits())
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run(
        ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", f"-sDEVICE={device}", f"-r{dpi:.6f}"]
        + ["-dTextAlphaBits=4", "-dGraphicsAlphaBits=4", "-o", "/dev/null", str(source)],
        check=True,
    )
    return time.perf_counter() - start, children_cpu() - cpu


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    base = limits_from_settings(Settings())
    header = ("input", "zlib", "filter", "wall s", "cpu s", "peak MiB", "bytes")
    print("{:20} {:>4} {:>6} {:>7} {:>6} {:>9} {:>10}".format(*header))
    for name, (source, size) in make_inputs(work).items():
        for level, filt in ((1, 5), (3, 5), (6, 5)):
            limits = replace(base, png_compression_level=level, png_filter=filt)
            with tempfile.TemporaryDirectory() as out:
                wall, cpu, rss, written = run_child(source, Path(out), limits)
            print(
                f"{name:20} {level:>4} {filt:>6} {wall:>7.2f} {cpu:>6.2f} {rss:>9.0f} {written:>10}"
            )
        if size is not None:
            for device in ("ppmraw", "png16m"):
                wall, cpu = raw_gs(source, size, device)
                print(f"{name:20} raw gs -sDEVICE={device}: {wall:.2f} s wall, {cpu:.2f} s cpu")


if __name__ == "__main__":
    main()
