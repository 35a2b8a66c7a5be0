"""Fan-out latency: many uploadEvents subscribers on one API process, PAGE_DONE commit to
receipt.

Method: no worker runs while the upload is created and every subscriber connects and gets
its SNAPSHOT; then one worker starts and converts the 20-page PDF. Commit time is the
Event row's `created_at`, which Tortoise stamps in the worker just before the transaction
commits, so each latency is an upper bound of commit-to-receipt. Receipt time is taken when
the subscriber's client reads the message; worker, API and clients share one clock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.client import create_upload, follow, subscribe
from bench.cluster import Cluster
from bench.measure import percentile

CONNECT_CONCURRENCY = 50
RUN_TIMEOUT = 300.0


@dataclass(frozen=True)
class FanOutResult:
    """Latencies of every PAGE_DONE at every subscriber."""

    upload_id: str
    subscribers: int
    events: int  # PAGE_DONE events per subscriber
    latencies_ms: list[float]
    missing: int  # PAGE_DONE deliveries expected but not received

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


async def _commit_times(cluster: Cluster, upload_id: str) -> dict[int, float]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(cluster.env["PAGEMILL_DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT sequence, created_at FROM event WHERE upload_id = $1 AND kind = 'PAGE_DONE'",
            uuid.UUID(upload_id),
        )
    finally:
        await conn.close()
    return {int(r["sequence"]): r["created_at"].timestamp() for r in rows}


async def fan_out(
    cluster: Cluster, pdf: Path, subscribers: int, log: Callable[[str], None]
) -> FanOutResult:
    """`subscribers` clients follow one upload of `pdf` while one worker converts it."""
    upload = await create_upload(cluster.graphql_url, [pdf])
    received: list[dict[int, float]] = [{} for _ in range(subscribers)]
    ready = asyncio.Semaphore(0)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def client(n: int) -> None:
        async with gate:
            ws = await subscribe(cluster.ws_url)
        snapshot_seen = False

        def on_event(event: dict[str, Any], at: float) -> None:
            nonlocal snapshot_seen
            if not snapshot_seen:
                snapshot_seen = True
                ready.release()
            if event["kind"] == "PAGE_DONE":
                received[n][int(event["sequence"])] = at

        async with ws:
            await follow(ws, upload["id"], on_event)

    async with asyncio.timeout(RUN_TIMEOUT), asyncio.TaskGroup() as group:
        for n in range(subscribers):
            group.create_task(client(n))
        for _ in range(subscribers):
            await ready.acquire()
        log(f"  {subscribers} subscribers have their SNAPSHOT; starting one worker")
        await asyncio.to_thread(cluster.start_workers, 1)
    await asyncio.to_thread(cluster.stop, "worker1")
    committed = await _commit_times(cluster, upload["id"])
    latencies = [
        (at - committed[seq]) * 1000
        for per_client in received
        for seq, at in per_client.items()
        if seq in committed
    ]
    missing = len(committed) * subscribers - len(latencies)
    return FanOutResult(upload["id"], subscribers, len(committed), latencies, missing)


def raise_fd_limit(wanted: int) -> None:
    """Room for `wanted` sockets in this process and the processes it starts."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
