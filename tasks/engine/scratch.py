"""Private temporary folders named after the pid of the process that made them, so the
folders of a process that was killed (whose cleanup never ran) can be found and removed."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def make_scratch(prefix: str) -> Path:
    """A new private folder `<prefix><pid>-<random>` in the temporary directory."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_orphans(prefix: str) -> int:
    """Remove the folders made with `prefix` by processes that are gone; how many."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = folder.name.removeprefix(prefix).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
