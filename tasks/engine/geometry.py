"""What a conversion may produce, and the sizes and densities that keep pages in the box."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Size = tuple[float, float]
ImageEngine = Literal["vips", "wand"]
PdfEngine = Literal["pdfium", "ghostscript"]


@dataclass(frozen=True)
class Limits:
    """What a conversion may produce and accept."""

    max_side: int = 3500
    max_density: int = 300
    max_pixels: int = 200_000_000
    max_image_side: int = 50_000
    max_pages: int = 2000
    max_page_points: float = 14_400.0
    png_compression_level: int = 2
    png_filter: int = 2
    pdf_png_filter: int = 0
    image_engine: ImageEngine = "vips"
    pdf_engine: PdfEngine = "pdfium"


def fit(width: int, height: int, box: int) -> tuple[int, int]:
    """The largest size within box x box with the aspect of width x height, never larger."""
    if width <= box and height <= box:
        return width, height
    scale = box / max(width, height)
    fitted = (max(1, _round(width * scale)), max(1, _round(height * scale)))
    return min(fitted[0], box), min(fitted[1], box)


def pdf_density(width_pt: float, height_pt: float, limits: Limits) -> float:
    """Dots per inch that make a page of this size land within the box, capped."""
    return min(float(limits.max_density), limits.max_side * 72.0 / max(width_pt, height_pt))


def pdf_pixels(width_pt: float, height_pt: float, limits: Limits) -> tuple[int, int]:
    """The pixel size of a page rendered at pdf_density (Ghostscript rounds to nearest)."""
    dpi = pdf_density(width_pt, height_pt, limits)
    size = (_round(width_pt * dpi / 72.0), _round(height_pt * dpi / 72.0))
    return max(1, min(size[0], limits.max_side)), max(1, min(size[1], limits.max_side))


def _round(value: float) -> int:
    return math.floor(value + 0.5)
