"""Conversion inputs made with real tools once per test run, and ImageMagick set up as the
conversion child sets it up (policy, limits) before anything imports Wand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from settings import get_settings
from tasks.child import magick_environment
from tests.fixtures.make import make_all

_settings = get_settings()
os.environ.update(
    magick_environment(_settings.magick_memory_mb, _settings.magick_disk_mb, _settings.thread_limit)
)


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every conversion fixture file, by name (see tests/fixtures/make.py)."""
    return make_all(tmp_path_factory.mktemp("inputs"))
