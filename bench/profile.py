"""Where the conversion child spends its time, per input class (py-spy, wall clock).

Samples include idle time (`--idle`), so waiting on Ghostscript's pipe shows up as time in
the engine function that reads it; native frames (`--native`) show zlib, libpng and
ImageMagick by name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.inputs import Input
from bench.warm import PROJECT, child_argv, child_env, child_job

TOP = 8


def _name(frame: str) -> str:
    """`function (file.py)`: the frame without directory and line number."""
    function, _, where = frame.partition(" (")
    if not where:
        return function
    return f"{function} ({where.rstrip(')').rsplit('/', 1)[-1].split(':')[0]})"


def _engine_step(frames: list[str]) -> str:
    """The innermost frame in pagemill's own code (the step a sample is charged to), or
    "imports" while modules load."""
    if any("_find_and_load" in f for f in frames):
        return "imports"
    for frame in reversed(frames):
        if "(tasks/" in frame or "/tasks/" in frame:
            return _name(frame)
    return "interpreter"


def _leaf(frames: list[str]) -> str:
    return _name(frames[-1]) if frames else "?"


BLOCKING = frozenset({"read", "wait4", "poll", "select", "epoll_wait", "waitpid"})


def _library(frames: list[str]) -> str:
    """Where the innermost frame runs: a blocking call, a native library, or Python."""
    function, _, where = (frames[-1] if frames else "?").partition(" (")
    if function in BLOCKING:
        return "blocked (waiting on a pipe or child)"
    if ".so" in where:
        return where.split(".so")[0].rsplit("/", 1)[-1].split("-")[0]
    return "python"


def summarise(collapsed: str) -> dict[str, Any]:
    """Shares of samples per engine step and per innermost frame."""
    steps: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        n = int(count)
        total += n
        steps[_engine_step(frames)] += n
        leaves[_leaf(frames)] += n
        libraries[_library(frames)] += n

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(TOP)]

    return {
        "samples": total,
        "steps": shares(steps),
        "libraries": shares(libraries),
        "leaves": shares(leaves),
    }


def profile_input(inp: Input) -> dict[str, Any]:
    """Run the conversion child on `inp` under py-spy and summarise the samples."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory(prefix="pagemill-profile-") as tmp:
        out = Path(tmp) / "profile.txt"
        cmd = [
            spy,
            "record",
            "--native",
            "--idle",
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--",
            *child_argv(direct=False),
        ]
        subprocess.run(
            cmd,
            input=(json.dumps(child_job(inp, Path(tmp) / "pages")) + "\n").encode(),
            env=child_env(Path(tmp)),
            cwd=PROJECT,
            capture_output=True,
            check=True,
            timeout=600,
        )
        return summarise(out.read_text())


def profile_all(inputs: list[Input], log: Callable[[str], None]) -> dict[str, Any]:
    """A profile summary per input."""
    profiles = {}
    for inp in inputs:
        log(f"profile: {inp.name}")
        profiles[inp.name] = profile_input(inp)
        for name, share in profiles[inp.name]["steps"][:5]:
            log(f"  {share:5.1f}%  {name}")
    return profiles
