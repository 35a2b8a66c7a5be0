"""Conversion inputs made with real tools once per test run, and ImageMagick set up as the
conversion child sets it up (policy, limits) before anything imports Wand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.child import magick_environment
from tests.fixtures.make import make_all

os.environ.update(magick_environment(magick_memory_mb=256, magick_disk_mb=1024, threads=1))


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every conversion fixture file, by name (see tests/fixtures/make.py)."""
    return make_all(tmp_path_factory.mktemp("inputs"))
