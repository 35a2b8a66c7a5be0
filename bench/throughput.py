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
class Setup:
    """How the workers of a run are started: `pagemill worker --processes N`, each process
    with `children` conversion slots (None: the default, the host's cores shared out)."""

    key: str
    processes: int
    children: int | None

    def env(self) -> dict[str, str]:
        """The workers' extra environment."""
        if self.children is None:
            return {}
        return {"PAGEMILL_WORKER_CHILDREN": str(self.children)}


# One conversion slot per process is the unit that scales out across hosts (a stock process
# takes every core of this one, so a second stock process here has no core of its own);
# the stock runs show what a plain `pagemill worker [--processes 2]` gets on this host.
ONE = Setup("one", 1, 1)
TWO = Setup("two", 2, 1)
ONE_DEFAULT = Setup("one_default", 1, None)
TWO_DEFAULT = Setup("two_default", 2, None)
SETUPS = (ONE, TWO, ONE_DEFAULT, TWO_DEFAULT)


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


async def run_batch(cluster: Cluster, paths: list[Path], setup: Setup) -> BatchResult:
    """Start the workers of `setup`, push the batch as one upload, time it to UPLOAD_DONE,
    stop the workers."""
    name = await asyncio.to_thread(cluster.start_workers, setup.processes, setup.env())
    try:
        start = time.perf_counter()
        upload = await create_upload(cluster.graphql_url, paths)
        await wait_done(cluster.ws_url, upload["id"], BATCH_TIMEOUT)
        seconds = time.perf_counter() - start
    finally:
        await asyncio.to_thread(cluster.stop, name)
    status = (await query(cluster.graphql_url, STATUS, {"id": upload["id"]}))["upload"]
    completed = sum(d["status"] == "COMPLETED" for d in status["documents"])
    return BatchResult(setup.processes, len(paths), seconds, completed)


def rotation(round_no: int) -> tuple[Setup, ...]:
    """The setups in the order of one round: reversed every other round, so that drift on a
    shared machine hits all alike."""
    return SETUPS if round_no % 2 == 0 else SETUPS[::-1]


async def throughput(
    cluster: Cluster, paths: list[Path], log: Callable[[str], None], rounds: int = 3
) -> dict[str, list[BatchResult]]:
    """The batch on every setup, `rounds` times each, by setup key."""
    results: dict[str, list[BatchResult]] = {setup.key: [] for setup in SETUPS}
    for round_no in range(rounds):
        for setup in rotation(round_no):
            result = await run_batch(cluster, paths, setup)
            log(
                f"  {result.documents} images, {setup.key} ({setup.processes} process(es),"
                f" slots {setup.children or 'default'}): {result.seconds:.1f}s"
                f" = {result.docs_per_second:.2f} docs/s ({result.completed} completed)"
            )
            results[setup.key].append(result)
    return results
