"""PDFs end to end through the whole service (createUpload to UPLOAD_DONE, Redis mode): the
real and generated PDFs as one upload on two worker processes, and one long PDF on one worker
process and on two."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cluster import Cluster
from bench.inputs import Input
from bench.throughput import run_batch


async def pdf_batch(
    cluster: Cluster, pdfs: list[Input], floor_seconds: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """The PDFs as one upload on 2 worker processes, against the one-process floor's time
    for the same pages."""
    paths = [inp.path for inp in pdfs]
    result = await run_batch(cluster, paths, 2)
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
    """One long PDF with 1 worker process and with 2."""
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for round_no in range(rounds):
        for processes in (1, 2) if round_no % 2 == 0 else (2, 1):
            result = await run_batch(cluster, [Path(inp.path)], processes)
            log(
                f"  {inp.name} ({inp.pages} pages), {processes} worker process(es):"
                f" {result.seconds:.1f}s"
            )
            seconds[processes].append(result.seconds)
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    return {
        "input": inp.name,
        "pages": inp.pages,
        "one_seconds": one,
        "two_seconds": two,
        "ratio": two / one,
        "method": "createUpload to UPLOAD_DONE of the one document, median of the rounds",
    }
