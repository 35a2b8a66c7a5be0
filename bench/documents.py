"""PDFs end to end through the whole service (createUpload to UPLOAD_DONE, Redis mode): the
real and generated PDFs as one upload on two worker processes, and one long PDF on one worker
process and on two (one conversion slot each, and the default slots)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cluster import Cluster
from bench.inputs import Input
from bench.throughput import ONE, ONE_DEFAULT, SETUPS, TWO, TWO_DEFAULT, rotation, run_batch
from settings import Settings
from tasks.sandbox.slots import slot_count


async def pdf_batch(
    cluster: Cluster, pdfs: list[Input], floor_seconds: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """The PDFs as one upload on 2 worker processes of one conversion slot each, against the
    one-process floor's time for the same pages."""
    paths = [inp.path for inp in pdfs]
    result = await run_batch(cluster, paths, TWO)
    pages = sum(inp.pages for inp in pdfs)
    log(f"  {len(paths)} PDFs ({pages} pages), 2 worker processes: {result.seconds:.1f}s")
    return {
        "inputs": [inp.name for inp in pdfs],
        "pages": pages,
        "seconds": result.seconds,
        "completed": result.completed,
        "floor_seconds": floor_seconds,
        "ratio": result.seconds / floor_seconds if floor_seconds else None,
        "method": "one upload of every PDF, createUpload to UPLOAD_DONE, 2 worker processes,"
        " against the sum of the one-process floor's medians on the same PDFs",
    }


async def long_document(
    cluster: Cluster, inp: Input, log: Callable[[str], None], rounds: int = 1
) -> dict[str, Any]:
    """One long PDF with 1 worker process and with 2, one conversion slot each, and the same
    with the default slots."""
    seconds: dict[str, list[float]] = {setup.key: [] for setup in SETUPS}
    for round_no in range(rounds):
        for setup in rotation(round_no):
            result = await run_batch(cluster, [Path(inp.path)], setup)
            log(
                f"  {inp.name} ({inp.pages} pages), {setup.key} ({setup.processes}"
                f" process(es), slots {setup.children or 'default'}): {result.seconds:.1f}s"
            )
            seconds[setup.key].append(result.seconds)
    median = {key: statistics.median(values) for key, values in seconds.items()}
    return {
        "input": inp.name,
        "pages": inp.pages,
        "one_seconds": median[ONE.key],
        "two_seconds": median[TWO.key],
        "ratio": median[TWO.key] / median[ONE.key],
        "one_default_seconds": median[ONE_DEFAULT.key],
        "two_default_seconds": median[TWO_DEFAULT.key],
        "ratio_default": median[TWO_DEFAULT.key] / median[ONE_DEFAULT.key],
        "default_slots": default_slots(),
        "method": "createUpload to UPLOAD_DONE of the one document, median of the rounds;"
        " one and two: each process with one conversion slot (PAGEMILL_WORKER_CHILDREN=1);"
        " *_default: the default slots (default_slots: per process count)",
    }


def default_slots() -> dict[str, int]:
    """Conversion slots a stock worker process gets on this host, by `--processes`."""
    settings = Settings(worker_children=0)
    return {str(n): slot_count(settings, n) for n in (1, 2)}
