"""Attempt folders and the temporary folders of conversion children: what is removed when."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tasks.sandbox.attempts import PREFIX, open_attempt, remove_stale
from tasks.sandbox.pool import SCRATCH_PREFIX, remove_orphan_scratch
from tasks.sandbox.runner import ConversionJob


def test_an_attempt_starts_with_links_to_the_pages_already_done(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "0001.png").write_bytes(b"one")
    work = open_attempt(ConversionJob(tmp_path / "x.pdf", "pdf", pages, [1, 2]), 300)

    assert work.parent == tmp_path and work.name.startswith(PREFIX)
    assert sorted(p.name for p in work.iterdir()) == ["0001.png"]  # page 2 was not on disk
    assert (work / "0001.png").stat().st_ino == (pages / "0001.png").stat().st_ino


def test_only_attempt_folders_untouched_past_the_age_are_removed(tmp_path: Path) -> None:
    old, live = tmp_path / f"{PREFIX}old", tmp_path / f"{PREFIX}live"
    old.mkdir()
    live.mkdir()
    (old / "0003.png.tmp").write_bytes(b"partial")
    past = time.time() - 600
    os.utime(old, (past, past))
    remove_stale(tmp_path, max_age=300)

    assert not old.exists() and live.exists()


def test_temporary_folders_of_dead_workers_children_are_removed() -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    root = Path(tempfile.gettempdir())
    orphan = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{dead.stdout.strip()}-", dir=root))
    ours = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=root))
    try:
        assert remove_orphan_scratch() >= 1
        assert not orphan.exists() and ours.exists()
    finally:
        ours.rmdir()
