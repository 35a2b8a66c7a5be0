"""Documents per second end to end (createUpload to UPLOAD_DONE) with 1 and 2 workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.client import STATUS, create_upload, query, wait_done
from bench.cluster import Cluster

BATCH_TIMEOUT = 600.0


@dataclass(frozen=True)
class BatchResult:
    """One batch through the whole service."""

    processes: int
    documents: int
    seconds: float
    completed: int

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds


async def run_batch(cluster: Cluster, paths: list[Path], processes: int) -> BatchResult:
    """Start `pagemill worker --processes N`, push the batch as one upload, time it to
    UPLOAD_DONE, stop the worker."""
    await asyncio.to_thread(cluster.start_workers, processes)
    try:
        start = time.perf_counter()
        upload = await create_upload(cluster.graphql_url, paths)
        await wait_done(cluster.ws_url, upload["id"], BATCH_TIMEOUT)
        seconds = time.perf_counter() - start
    finally:
        await asyncio.to_thread(cluster.stop, f"worker{processes}")
    status = (await query(cluster.graphql_url, STATUS, {"id": upload["id"]}))["upload"]
    completed = sum(d["status"] == "COMPLETED" for d in status["documents"])
    return BatchResult(processes, len(paths), seconds, completed)


async def throughput(
    cluster: Cluster, paths: list[Path], log: Callable[[str], None], rounds: int = 3
) -> dict[int, list[BatchResult]]:
    """The batch with 1 worker process and with 2, `rounds` times each, the order of the two
    alternating from round to round so that drift on a shared machine hits both alike."""
    results: dict[int, list[BatchResult]] = {1: [], 2: []}
    for round_no in range(rounds):
        for processes in (1, 2) if round_no % 2 == 0 else (2, 1):
            result = await run_batch(cluster, paths, processes)
            log(
                f"  {result.documents} images, {processes} worker process(es):"
                f" {result.seconds:.1f}s = {result.docs_per_second:.2f} docs/s"
                f" ({result.completed} completed)"
            )
            results[processes].append(result)
    return results
