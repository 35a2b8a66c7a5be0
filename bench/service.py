"""The service part of `make bench`: one real cluster (uvicorn + `pagemill worker`, Redis,
PostgreSQL) for throughput against the image floor, PDFs end to end against the PDF floor, one
long PDF on 1 and 2 worker processes, subscription fan-out and the status query."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import inputs
from bench.cluster import Cluster, cluster
from bench.conversion import floor_batch, floor_seconds
from bench.documents import default_slots, long_document, pdf_batch
from bench.inputs import Input
from bench.throughput import throughput

PROJECT = Path(__file__).resolve().parents[1]
INPUTS = PROJECT / "scratch" / "bench" / "inputs"
LONG_PAGES = 250
Log = Callable[[str], None]


async def service(
    quick: bool, pdfs: list[Input], floors: dict[str, float | None], log: Log
) -> dict[str, Any]:
    """Every service measurement against one real cluster."""
    from bench.subscriptions import raise_fd_limit

    subscribers = 200 if quick else 1000
    raise_fd_limit(subscribers * 4 + 1024)
    batch = inputs.small_batch(INPUTS / f"v{inputs.VERSION}" / "small", 40 if quick else 200)
    letter = inputs.large_inputs(INPUTS)[0]
    out: dict[str, Any] = {}
    logs = PROJECT / "scratch" / "bench" / "logs" / dt.datetime.now(dt.UTC).strftime("%H%M%S")
    log(f"process logs under {logs}")
    async with cluster(logs) as running:
        out["throughput"] = await _throughput(running, batch, quick, log)
        short = [p for p in pdfs if p.pages < LONG_PAGES]
        log(f"PDFs through the service: {', '.join(p.name for p in short)}")
        floor = sum(floors.get(p.name) or floor_seconds(p, log) for p in short)
        out["pdf_batch"] = await pdf_batch(running, short, floor, log)
        for long in [p for p in pdfs if p.pages >= LONG_PAGES]:
            log(f"long document: {long.name}")
            out["long_document"] = await long_document(running, long, log)
        upload_id = await _subscriptions(running, letter.path, subscribers, quick, out, log)
        if upload_id is not None:
            await _api(running, upload_id, quick, out, log)
    return out


async def _throughput(running: Cluster, batch: list[Path], quick: bool, log: Log) -> dict[str, Any]:
    log(f"throughput: {len(batch)} small images (floor first)")
    floor = floor_batch(batch, log)
    runs = await throughput(running, batch, log, 1 if quick else 3)

    def summary(results: list[Any]) -> dict[str, Any]:
        rates = [r.docs_per_second for r in results]
        return {
            "docs_per_second": statistics.median(rates),
            "runs": [round(rate, 2) for rate in rates],
            "seconds": statistics.median([r.seconds for r in results]),
            "completed": min(r.completed for r in results),
        }

    one, two = summary(runs["one"]), summary(runs["two"])
    one_default, two_default = summary(runs["one_default"]), summary(runs["two_default"])
    floor_rate = len(batch) / floor
    return {
        "documents": len(batch),
        "floor_docs_per_second": floor_rate,
        "one": one,
        "two": two,
        "scaling": two["docs_per_second"] / one["docs_per_second"],
        "floor_ratio": two["docs_per_second"] / floor_rate,
        "one_default": one_default,
        "two_default": two_default,
        "scaling_default": two_default["docs_per_second"] / one_default["docs_per_second"],
        "floor_ratio_default": two_default["docs_per_second"] / floor_rate,
        "default_slots": default_slots(),
        "method": "median of the runs; the runs alternate in order; one and two: 1 and 2"
        " worker processes with one conversion slot each (PAGEMILL_WORKER_CHILDREN=1), the"
        " unit that scales out across hosts; *_default: the default slots (default_slots: per"
        " process count); the floor is pyvips thumbnail + pngsave at the same level in one"
        " warm process, one image per job",
    }


async def _subscriptions(
    running: Cluster, letter: Path, subscribers: int, quick: bool, out: dict[str, Any], log: Log
) -> str | None:
    """PAGE_DONE fan-out runs into out["subscriptions"]; the last run's upload id."""
    from bench.subscriptions import fan_out

    fan_runs = 1 if quick else 3
    log(f"subscriptions: {subscribers} subscribers on {letter.name}, {fan_runs} runs")
    fans = []
    try:
        for _ in range(fan_runs):
            fan = await fan_out(running, letter, subscribers, log)
            log(
                f"  p50 {fan.p50:.1f} ms, p99 {fan.p99:.1f} ms, {fan.missing} missing; API"
                f" {1e6 * fan.api_cpu_seconds / max(1, fan.deliveries):.0f} us CPU per delivery"
            )
            fans.append(fan)
    except Exception as exc:  # keep what was measured; say what failed
        out["errors"] = [f"subscriptions: {exc!r}"[:2000]]
        return None
    live = sum(f.deliveries for f in fans)
    deliveries = max(1, live)  # the divisor of the CPU costs per delivery
    out["subscriptions"] = {
        "subscribers": fan.subscribers,
        "events": fan.events,
        "deliveries": len(fan.latencies_ms),
        "missing": max(f.missing for f in fans),
        "p50_ms": statistics.median(f.p50 for f in fans),
        "p99_ms": statistics.median(f.p99 for f in fans),
        "runs": [
            {"p50_ms": round(f.p50, 1), "p99_ms": round(f.p99, 1), "missing": f.missing}
            for f in fans
        ],
        "live_deliveries": live,
        "api_cpu_us_per_delivery": 1e6 * sum(f.api_cpu_seconds for f in fans) / deliveries,
        "client_cpu_us_per_delivery": 1e6 * sum(f.client_cpu_seconds for f in fans) / deliveries,
        "method": "Event.created_at (stamped by the worker just before commit) to the"
        " client parsing the frame, in a separate client process; p50 and p99 are the"
        " medians of the runs' (each run a fresh upload and fresh subscribers)",
    }
    return fan.upload_id


async def _api(
    running: Cluster, upload_id: str, quick: bool, out: dict[str, Any], log: Log
) -> None:
    """The status query against the bare endpoint into out["api"]."""
    from bench.api import CONCURRENCY, status_load

    log("api: upload(id) status query against the bare endpoint")
    try:
        api = await status_load(running, upload_id, 2 if quick else 4, 2 if quick else 4, log)
    except Exception as exc:  # keep what was measured; say what failed
        out["errors"] = [f"api: {exc!r}"[:2000]]
        return
    (g_rps, g50, g99), (b_rps, b50, b99) = api.summary("graphql"), api.summary("bare")
    out["api"] = {
        "tool": api.tool,
        "concurrency": CONCURRENCY,
        "pages": api.pages,
        "graphql": {"rps": g_rps, "p50_ms": g50, "p99_ms": g99},
        "bare": {"rps": b_rps, "p50_ms": b50, "p99_ms": b99},
        "share_percent": 100 * api.share(),
        "method": "median over rounds of graphql/bare requests/s, each round both back to back",
        "errors": sum(r.errors for r in api.rounds),
    }
