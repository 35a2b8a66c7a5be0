"""Fan-out latency: many uploadEvents subscribers on one API process, PAGE_DONE commit to
receipt.

Method: no worker runs while the upload is created and every subscriber connects and gets
its SNAPSHOT; then one worker starts and converts the 20-page PDF. Commit time is the
Event row's `created_at`, which Tortoise stamps in the worker just before the transaction
commits, so each latency is an upper bound of commit-to-receipt. Receipt time is taken when
the subscriber's frame is parsed, in a separate lean client process (bench.fanout_client);
worker, API and clients share one clock. The API's and the clients' CPU seconds over the
live phase are kept, to tell server cost from client cost.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.client import create_upload
from bench.cluster import PROJECT, Cluster
from bench.measure import percentile

RUN_TIMEOUT = 300.0
RESULT_BYTES = 1 << 28  # the client's one-line result holds every receipt


@dataclass(frozen=True)
class FanOutResult:
    """Latencies of every PAGE_DONE at every subscriber."""

    upload_id: str
    subscribers: int
    events: int  # PAGE_DONE events per subscriber
    latencies_ms: list[float]
    missing: int  # PAGE_DONE deliveries expected but not received
    api_cpu_seconds: float
    client_cpu_seconds: float
    deliveries: int  # every event (not only PAGE_DONE) sent to every subscriber, live

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


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def fan_out(
    cluster: Cluster, pdf: Path, subscribers: int, log: Callable[[str], None]
) -> FanOutResult:
    """`subscribers` clients follow one upload of `pdf` while one worker converts it."""
    upload = await create_upload(cluster.graphql_url, [pdf])
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fanout_client",
        cluster.ws_url,
        upload["id"],
        str(subscribers),
        stdout=asyncio.subprocess.PIPE,
        cwd=PROJECT,
        limit=RESULT_BYTES,
    )
    assert client.stdout is not None
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            if (await client.stdout.readline()).strip() != b"ready":
                raise RuntimeError("the fan-out client stopped before every subscriber was in")
            log(f"  {subscribers} subscribers have their SNAPSHOT; starting one worker")
            api_before = _cpu(cluster.api_pid())
            await asyncio.to_thread(cluster.start_workers, 1)
            result = json.loads(await client.stdout.readline())
            api_cpu = _cpu(cluster.api_pid()) - api_before
            await client.wait()
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
    await asyncio.to_thread(cluster.stop, "worker1")
    committed = await _commit_times(cluster, upload["id"])
    latencies = [
        (at - committed[seq]) * 1000
        for per_client in result["received"]
        for seq, kind, at in per_client
        if kind == "PAGE_DONE" and seq in committed
    ]
    missing = len(committed) * subscribers - len(latencies)
    deliveries = sum(max(0, len(per_client) - 1) for per_client in result["received"])
    return FanOutResult(
        upload["id"],
        subscribers,
        len(committed),
        latencies,
        missing,
        api_cpu,
        float(result["cpu_seconds"]),
        deliveries,
    )


def raise_fd_limit(wanted: int) -> None:
    """Room for `wanted` sockets in this process and the processes it starts."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
