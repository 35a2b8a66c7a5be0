"""The floors pagemill is measured against: the fewest steps that make the same pages in one
plain process, with the same libraries and the same deflate.

PDF: pypdfium2 renders each page at the pixel size pagemill reports (density capped at
300 dpi, fitted in 3500x3500), the rows go to ISA-L at the same level, unfiltered, into a
PNG. Image: pyvips `thumbnail` to fit the box and `pngsave` at the same level. No sniffing,
no limits, no sandbox, no checks: what a one-off script would do.

`python -m bench.floor` speaks the conversion child's protocol (a JSON job per line on stdin,
lines ending in "done" on stdout), so the benchmark times it as a warm process exactly as it
times pagemill's child.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

MAX_SIDE = 3500
MAX_DENSITY = 300.0


def pdf_pages(source: Path, out: Path, level: int) -> int:
    """Every page of a PDF as PNG, at the size pagemill gives it; returns the page count."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(source)
    try:
        for index in range(len(document)):
            page = document[index]
            width_pt, height_pt = page.get_size()
            scale = min(MAX_DENSITY / 72.0, MAX_SIDE / max(width_pt, height_pt))
            size = (_round(width_pt * scale), _round(height_pt * scale))
            bitmap = page.render(scale=scale, rev_byteorder=True, may_draw_forms=False)
            _write(out / f"{index + 1:04d}.png", bitmap.buffer, bitmap.stride, size, level)
            bitmap.close()
            page.close()
        return len(document)
    finally:
        document.close()


def image_page(source: Path, out: Path, level: int) -> int:
    """An image fitted in the box with libvips, saved as PNG at the same level."""
    import pyvips

    image = pyvips.Image.thumbnail(str(source), MAX_SIDE, height=MAX_SIDE, size="down")
    image.pngsave(str(out / "0001.png"), compression=level)
    return 1


def _round(value: float) -> int:
    return max(1, math.floor(value + 0.5))


def _write(path: Path, pixels: Any, stride: int, size: tuple[int, int], level: int) -> None:
    from isal import isal_zlib

    width, height = size  # pypdfium2 rounds up: the bitmap may be a pixel larger
    line, view = width * 3, memoryview(pixels).cast("B")
    rows = b"".join(part for y in range(height) for part in (b"\0", view[y * stride :][:line]))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header))
        out.write(_chunk(b"IDAT", isal_zlib.compress(rows, min(level, 3))))
        out.write(_chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def run(job: dict[str, Any]) -> dict[str, Any]:
    """One job: {"source", "kind", "pages_dir", "level"} -> the "done" line."""
    out = Path(job["pages_dir"])
    out.mkdir(parents=True, exist_ok=True)
    convert = pdf_pages if job["kind"] == "pdf" else image_page
    return {"event": "done", "pages": convert(Path(job["source"]), out, int(job["level"]))}


def main() -> int:
    """Answers jobs, one per line, until stdin closes."""
    import isal.isal_zlib  # noqa: F401  (loaded before the first job, as the child does)
    import pypdfium2  # noqa: F401
    import pyvips  # noqa: F401

    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
