"""The raw tools the benchmark compares against, installed when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# Debian packages of the raw tools the benchmark compares against, installed when missing.
TOOLS = {"vipsthumbnail": "libvips-tools", "wrk": "wrk"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_tools() -> None:
    """Install missing comparison tools with apt-get (this is a root Debian machine)."""
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log(f"missing {missing}: install them to compare against them")
        return
    log(f"installing {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, env=env)
