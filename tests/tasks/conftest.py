"""Conversion inputs made with real tools once per test run, and ImageMagick and libvips set up
as the conversion child sets them up (policy, limits, threads) before anything imports them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import pytest

import tasks.runtime.tasks  # noqa: F401  (the worker's tasks on the in-memory broker, as embedded)
from settings import get_settings
from tasks.engine.geometry import ImageEngine, PdfEngine
from tasks.sandbox.child import magick_environment, vips_environment
from tests.fixtures.make import make_all

_settings = get_settings()
os.environ.update(
    magick_environment(_settings.magick_memory_mb, _settings.magick_disk_mb, _settings.thread_limit)
)
os.environ.update(vips_environment(_settings.thread_limit))


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every conversion fixture file, by name (see tests/fixtures/make.py)."""
    return make_all(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(params=["vips", "wand"])
def image_engine(request: pytest.FixtureRequest) -> ImageEngine:
    """Each image engine in turn: tests taking this run once per engine."""
    return cast(ImageEngine, request.param)


@pytest.fixture(params=["pdfium", "ghostscript"])
def pdf_engine(request: pytest.FixtureRequest) -> PdfEngine:
    """Each PDF engine in turn: tests taking this run once per engine."""
    return cast(PdfEngine, request.param)
