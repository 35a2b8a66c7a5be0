"""Run the JavaScript clients of tests/clients/ (their npm packages installed by bootstrap)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


async def run_node(script: str, *args: str, timeout: float = 120) -> tuple[int, list[Any]]:
    """Exit status and the JSON lines a script of tests/clients/ printed."""
    assert (HERE / "node_modules").is_dir(), "run scripts/bootstrap.sh (npm ci in tests/clients)"
    process = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / script),
        *args,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        stdout, stderr = await process.communicate()
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    assert process.returncode is not None
    if process.returncode != 0 and not lines:
        raise AssertionError(f"{script} failed: {stderr.decode()[-2000:]}")
    return process.returncode, lines
