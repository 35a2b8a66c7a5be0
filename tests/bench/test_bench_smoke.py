"""The benchmark's input generators and report writer, on tiny inputs (no timing, ever)."""

from __future__ import annotations

import json
from pathlib import Path

import pikepdf
from PIL import Image

from bench import inputs, report


def test_letter_pdf_has_text_art_and_a_photo_per_page(tmp_path: Path) -> None:
    path = inputs.letter_pdf(tmp_path / "letter.pdf", pages=2)
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == 2
        for page in pdf.pages:
            assert [float(v) for v in page.mediabox] == [0, 0, *inputs.LETTER]
            assert "/Im0" in page.resources.XObject
            content = page.Contents.read_bytes()
            assert b"Tj" in content and b" c h B" in content


def test_a0_poster_is_one_a0_page(tmp_path: Path) -> None:
    with pikepdf.open(inputs.a0_poster(tmp_path / "a0.pdf")) as pdf:
        assert len(pdf.pages) == 1
        assert [float(v) for v in pdf.pages[0].mediabox] == [0, 0, *inputs.A0]


def test_image_generators_make_the_asked_sizes_and_modes(tmp_path: Path) -> None:
    with Image.open(inputs.big_jpeg(tmp_path / "big.jpg", size=(300, 200))) as img:
        assert (img.format, img.size, img.mode) == ("JPEG", (300, 200), "RGB")
    with Image.open(inputs.big_rgba_png(tmp_path / "big.png", side=256)) as img:
        assert (img.format, img.size, img.mode) == ("PNG", (256, 256), "RGBA")


def test_small_batch_is_mixed_and_distinct(tmp_path: Path) -> None:
    paths = inputs.small_batch(tmp_path / "small", 6)
    assert {p.suffix for p in paths} == {".jpg", ".png"}
    assert len({p.read_bytes() for p in paths}) == 6
    assert inputs.small_batch(tmp_path / "small", 6) == paths  # built once, then reused


def test_report_writes_targets_and_a_table(tmp_path: Path) -> None:
    floor = {"tool": "floor", "seconds": 2.0, "cpu_seconds": 1.9, "peak_mb": 40.0, "error": None}
    results = {
        "quick": True,
        "finished_at": "2026-01-01 00:00 UTC",
        "machine": {"loadavg_start": [0.1, 0.1, 0.1]},
        "conversion": [
            {
                "input": "a0-poster.pdf",
                "pages": 1,
                "output": "2476x3500",
                "pagemill": {**floor, "tool": "pagemill", "seconds": 2.2, "peak_mb": 250.0},
                "floor": floor,
                "ratio": 1.1,
                "cpu_ratio": 1.05,
            }
        ],
        "pdf_batch": {
            "inputs": ["a0-poster.pdf"],
            "pages": 1,
            "seconds": 1.5,
            "floor_seconds": 2.0,
            "ratio": 0.75,
        },
        "long_document": {
            "input": "long.pdf",
            "pages": 300,
            "one_seconds": 10.0,
            "two_seconds": 7.0,
            "ratio": 0.7,
        },
        "throughput": {
            "documents": 4,
            "floor_docs_per_second": 1.0,
            "one": {"docs_per_second": 1.0},
            "two": {"docs_per_second": 1.9},
            "scaling": 1.9,
            "floor_ratio": 1.9,
        },
        "api": {
            "tool": "wrk",
            "concurrency": 32,
            "pages": 20,
            "graphql": {"rps": 300.0, "p50_ms": 9.0, "p99_ms": 30.0},
            "bare": {"rps": 1000.0, "p50_ms": 3.0, "p99_ms": 9.0},
            "share_percent": 30.0,
        },
        "subscriptions": {
            "subscribers": 10,
            "events": 2,
            "deliveries": 20,
            "missing": 0,
            "p50_ms": 5.0,
            "p99_ms": float("nan"),
        },
    }
    table = report.write(results, tmp_path / "results.json")
    written = json.loads((tmp_path / "results.json").read_text())
    met = {t["name"]: t["met"] for t in written["targets"]}
    assert met == {
        "engine a0-poster.pdf": True,
        "peak RSS a0-poster.pdf": False,
        "PDFs via service, 2 workers": True,
        "images, 2 workers vs floor": True,
        "images, 2 workers vs 1": True,
        "long.pdf, 2 workers vs 1": False,
        "status poll vs bare": False,
        "PAGE_DONE p99 at 10 subscribers": False,
    }
    assert all({"name", "value", "limit", "unit", "met"} <= set(t) for t in written["targets"])
    assert "| a0-poster.pdf | 1 | 2476x3500 |" in table


def test_report_shows_one_slot_and_stock_worker_runs_side_by_side(tmp_path: Path) -> None:
    rate = {"docs_per_second": 1.0}
    results = {
        "quick": True,
        "finished_at": "2026-01-01 00:00 UTC",
        "machine": {"loadavg_start": [0.1, 0.1, 0.1]},
        "long_document": {
            "input": "long.pdf",
            "pages": 300,
            "one_seconds": 10.0,
            "two_seconds": 6.0,
            "ratio": 0.6,
            "one_default_seconds": 6.5,
            "two_default_seconds": 6.25,
            "ratio_default": 0.96,
            "default_slots": {"1": 2, "2": 1},
        },
        "throughput": {
            "documents": 4,
            "floor_docs_per_second": 1.0,
            "one": rate,
            "two": {"docs_per_second": 1.9},
            "scaling": 1.9,
            "floor_ratio": 1.9,
            "one_default": {"docs_per_second": 1.8},
            "two_default": {"docs_per_second": 1.9},
            "scaling_default": 1.06,
            "floor_ratio_default": 1.9,
            "default_slots": {"1": 2, "2": 1},
        },
    }
    table = report.write(results, tmp_path / "results.json")
    assert "| long.pdf | 300 | 1 | 10.00 | 6.00 | 0.60 |" in table
    assert "| long.pdf | 300 | default (2 / 1) | 6.50 | 6.25 | 0.96 |" in table
    assert "| 4 small images | 1 | 1.00 | 1.00 | 1.90 | 1.90x | 1.90x |" in table
    assert "| 4 small images | default (2 / 1) | 1.00 | 1.80 | 1.90 | 1.06x | 1.90x |" in table
    met = {
        t["name"]: t["met"] for t in json.loads((tmp_path / "results.json").read_text())["targets"]
    }
    assert met["images, 2 workers vs 1"] is True  # the targets compare the one-slot runs
