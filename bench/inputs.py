"""The benchmark's inputs, generated on the spot: PDFs with pikepdf, images with Pillow.

Every generator is deterministic (seeded), so two runs on two machines convert the same bytes.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image, ImageChops, ImageDraw

LETTER = (612.0, 792.0)
A0 = (2384.0, 3370.0)
VERSION = "2"  # bump when a generator changes, so cached inputs are rebuilt


@dataclass(frozen=True)
class Input:
    """One benchmark input: a file and what kind of document it is."""

    name: str
    path: Path
    kind: str  # "pdf" | "jpeg" | "png"
    pages: int


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like RGB picture: smooth colour fields, shapes, and film grain."""
    rng = random.Random(seed)
    cells = (max(2, width // 96), max(2, height // 96))
    field = Image.frombytes("RGB", cells, rng.randbytes(cells[0] * cells[1] * 3))
    img = field.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(max(2, min(width, height) // 12), max(3, min(width, height) // 4))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randbytes(3)))
    grain = Image.effect_noise((width, height), 18).convert("RGB")
    return ImageChops.add(img, grain, scale=1.0, offset=-128)


def jpeg_bytes(img: Image.Image, quality: int = 85) -> bytes:
    """The picture as baseline JPEG bytes."""
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _text_ops(width: float, height: float, size: float, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    words = ["render", "page", "vector", "photo", "density", "deflate", "raster", "glyph"]
    ops = [b"BT /F1 %.1f Tf 0 g" % size]
    y = height - 2 * size
    while y > height * 0.55:
        line = " ".join(rng.choice(words) for _ in range(int(width / size / 3.5)))
        ops.append(b"1 0 0 1 %.1f %.1f Tm (%s) Tj" % (size * 2, y, line.encode()))
        y -= size * 1.3
    ops.append(b"ET")
    return ops


def _vector_ops(width: float, height: float, paths: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    ops = [b"q"]
    for _ in range(paths):
        r, g, b = (rng.random() for _ in range(3))
        # Local shapes (a few percent of the page each), as in real diagrams and maps.
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height * 0.5)
        reach = width * 0.06
        pts = [(x0 if i % 2 == 0 else y0) + rng.uniform(-reach, reach) for i in range(6)]
        ops.append(
            b"%.3f %.3f %.3f rg %.3f %.3f %.3f RG %.2f w" % (r, g, b, b, r, g, rng.uniform(0.3, 3))
        )
        ops.append(b"%.1f %.1f m %.1f %.1f %.1f %.1f %.1f %.1f c h B" % (x0, y0, *pts))
    ops.append(b"Q")
    return ops


def _pdf_page(
    pdf: pikepdf.Pdf,
    size: tuple[float, float],
    font: pikepdf.Object,
    art: int,
    seed: int,
    photo_px: tuple[int, int],
    photo_box: tuple[float, float, float, float],
) -> pikepdf.Dictionary:
    width, height = size
    image = photo(*photo_px, seed)
    xobj = pikepdf.Stream(pdf, jpeg_bytes(image))
    xobj.Type, xobj.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    xobj.Width, xobj.Height = photo_px
    xobj.ColorSpace, xobj.BitsPerComponent = pikepdf.Name.DeviceRGB, 8
    xobj.Filter = pikepdf.Name.DCTDecode
    x, y, w, h = photo_box
    ops = _text_ops(width, height, max(9.0, width / 60), seed)
    ops += _vector_ops(width, height, art, seed)
    ops.append(b"q %.1f 0 0 %.1f %.1f %.1f cm /Im0 Do Q" % (w, h, x, y))
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, width, height],
        Resources=pikepdf.Dictionary(
            Font=pikepdf.Dictionary(F1=font), XObject=pikepdf.Dictionary(Im0=xobj)
        ),
        Contents=pikepdf.Stream(pdf, b"\n".join(ops)),
    )
    return page


def _new_pdf() -> tuple[pikepdf.Pdf, pikepdf.Object]:
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    return pdf, font


def letter_pdf(path: Path, pages: int = 20) -> Path:
    """Letter pages of text, ~150 coloured vector paths and one 1200x900 photo each."""
    pdf, font = _new_pdf()
    for n in range(pages):
        box = (72.0, 72.0, 288.0, 216.0)  # 4x3 inches: the photo lands at 300 dpi
        pdf.pages.append(pikepdf.Page(_pdf_page(pdf, LETTER, font, 150, n, (1200, 900), box)))
    pdf.save(path)
    return path


def a0_poster(path: Path) -> Path:
    """One A0 page: large text, 3000 vector paths and a 3000x2000 photo."""
    pdf, font = _new_pdf()
    box = (200.0, 200.0, 1800.0, 1200.0)
    pdf.pages.append(pikepdf.Page(_pdf_page(pdf, A0, font, 3000, 1000, (3000, 2000), box)))
    pdf.save(path)
    return path


def big_jpeg(path: Path, size: tuple[int, int] = (12000, 9000)) -> Path:
    """A photo-like baseline JPEG (108 MP by default)."""
    photo(*size, seed=2000).save(path, "JPEG", quality=88)
    return path


def big_rgba_png(path: Path, side: int = 8000) -> Path:
    """An illustration-like RGBA PNG: smooth colours, shapes and an alpha gradient."""
    rng = random.Random(3000)
    field = Image.frombytes("RGB", (24, 24), rng.randbytes(24 * 24 * 3))
    img = field.resize((side, side), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x, y, r = rng.randrange(side), rng.randrange(side), rng.randrange(side // 80, side // 6)
        draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=tuple(rng.randbytes(3)))
    alpha = Image.linear_gradient("L").resize((side, side))
    ImageDraw.Draw(alpha).ellipse((side // 3, side // 3, side // 2, side // 2), fill=0)
    img.putalpha(alpha)
    img.save(path, "PNG", compress_level=1)
    return path


SMALL_SIZES = [(800, 600), (1024, 768), (1600, 1200), (2048, 1536), (640, 480), (1280, 800)]


def small_image(path_stem: Path, n: int) -> Path:
    """The n-th small image of the batch: JPEG photos, flat PNG screenshots, RGBA PNGs."""
    w, h = SMALL_SIZES[n % len(SMALL_SIZES)]
    if n % 3 == 0:
        path = path_stem.with_suffix(".jpg")
        photo(w, h, seed=10_000 + n).save(path, "JPEG", quality=85)
        return path
    path = path_stem.with_suffix(".png")
    _flat_png(path, n, w, h)
    return path


def _flat_png(path: Path, n: int, w: int, h: int) -> None:
    img = Image.new("RGBA" if n % 3 == 2 else "RGB", (w, h), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    rng = random.Random(20_000 + n)
    for _ in range(40):
        x, y = rng.randrange(w), rng.randrange(h)
        colour = (*rng.randbytes(3), rng.randrange(64, 256))
        draw.rectangle((x, y, x + rng.randrange(20, w // 3), y + rng.randrange(10, h // 8)), colour)
        draw.text((x, y), f"item {n}-{x}", fill=(0, 0, 0))
    img.save(path, "PNG")


def small_batch(directory: Path, count: int) -> list[Path]:
    """`count` distinct small images (no two share content, so nothing is deduplicated),
    built once per generator version."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        stem = directory / f"img{n:03d}"
        done = [p for p in (stem.with_suffix(".jpg"), stem.with_suffix(".png")) if p.exists()]
        paths.append(done[0] if done else small_image(stem, n))
    return paths


def _cached(path: Path, build: object) -> Path:
    assert callable(build)
    if not path.exists():
        tmp = path.with_name(f".tmp-{path.name}")
        build(tmp)
        tmp.replace(path)
    return path


def large_inputs(directory: Path) -> list[Input]:
    """The four per-input classes, built once per generator version under `directory`."""
    root = directory / f"v{VERSION}"
    root.mkdir(parents=True, exist_ok=True)
    return [
        Input("letter-20p.pdf", _cached(root / "letter-20p.pdf", letter_pdf), "pdf", 20),
        Input("a0-poster.pdf", _cached(root / "a0-poster.pdf", a0_poster), "pdf", 1),
        Input("photo-12000x9000.jpg", _cached(root / "photo-12000x9000.jpg", big_jpeg), "jpeg", 1),
        Input("rgba-8000.png", _cached(root / "rgba-8000.png", big_rgba_png), "png", 1),
    ]
