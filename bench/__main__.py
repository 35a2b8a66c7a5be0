"""`make bench`: `uv run python -m bench [--quick] [--only conversion,service] [--profile]`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import inputs, report
from bench.measure import MiB
from bench.tools import ensure_tools

PROJECT = Path(__file__).resolve().parents[1]
INPUTS = PROJECT / "scratch" / "bench" / "inputs"
PROFILE = PROJECT / "bench" / "profile.json"
PARTS = {
    "conversion": ["conversion"],
    "service": ["throughput", "subscriptions", "api", "errors"],
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def conversion(quick: bool) -> list[dict[str, Any]]:
    """Per-input rows: pagemill's child against the raw tools."""
    from bench.raw import InputResult, bench_input

    def tool_row(t: Any) -> dict[str, Any]:
        return {
            "tool": t.tool,
            "seconds": t.seconds if t.runs else None,
            "cpu_seconds": (
                sorted(r.cpu_seconds for r in t.runs)[len(t.runs) // 2] if t.runs else None
            ),
            "peak_mb": t.peak_mb if t.runs else None,
            "runs": [round(r.seconds, 3) for r in t.runs],
            "size": list(t.size) if t.size else None,
            "error": t.error,
        }

    rows = []
    for inp in inputs.large_inputs(INPUTS):
        log(f"conversion: {inp.name}")
        result: InputResult = bench_input(inp, 1 if quick else 3, log)
        pm, fast = tool_row(result.pagemill), result.fastest
        fast_row = tool_row(fast) if fast else {}
        rows.append(
            {
                "input": inp.name,
                "pages": inp.pages,
                "output": f"{result.target[0]}x{result.target[1]}",
                "pagemill": pm,
                "fastest": fast_row or None,
                "raw": [tool_row(t) for t in result.raw],
                "ratio": _ratio(pm["seconds"], fast_row.get("seconds")),
                "cpu_ratio": _ratio(pm["cpu_seconds"], fast_row.get("cpu_seconds")),
            }
        )
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


async def service(quick: bool) -> dict[str, Any]:
    """Throughput, fan-out and status-query load against one real cluster."""
    from bench.api import CONCURRENCY, status_load
    from bench.cluster import cluster
    from bench.subscriptions import fan_out, raise_fd_limit
    from bench.throughput import throughput

    subscribers = 200 if quick else 1000
    raise_fd_limit(subscribers * 4 + 1024)
    batch = inputs.small_batch(INPUTS / f"v{inputs.VERSION}" / "small", 40 if quick else 200)
    letter = inputs.large_inputs(INPUTS)[0]
    out: dict[str, Any] = {}
    logs = PROJECT / "scratch" / "bench" / "logs" / dt.datetime.now(dt.UTC).strftime("%H%M%S")
    log(f"process logs under {logs}")
    async with cluster(logs) as running:
        log(f"throughput: {len(batch)} small images")
        runs = await throughput(running, batch, log, 1 if quick else 3)

        def summary(results: list[Any]) -> dict[str, Any]:
            rates = [r.docs_per_second for r in results]
            return {
                "docs_per_second": statistics.median(rates),
                "runs": [round(rate, 2) for rate in rates],
                "seconds": statistics.median([r.seconds for r in results]),
                "completed": min(r.completed for r in results),
            }

        one, two = summary(runs[1]), summary(runs[2])
        out["throughput"] = {
            "documents": len(batch),
            "one": one,
            "two": two,
            "scaling": two["docs_per_second"] / one["docs_per_second"],
            "method": "median of the runs; 1 and 2 worker runs alternate in order",
        }
        fan_runs = 1 if quick else 3
        log(f"subscriptions: {subscribers} subscribers on {letter.name}, {fan_runs} runs")
        fans = []
        try:
            for _ in range(fan_runs):
                fan = await fan_out(running, letter.path, subscribers, log)
                log(
                    f"  p50 {fan.p50:.1f} ms, p99 {fan.p99:.1f} ms, {fan.missing} missing; API"
                    f" {1e6 * fan.api_cpu_seconds / max(1, fan.deliveries):.0f} us CPU per delivery"
                )
                fans.append(fan)
        except Exception as exc:  # keep what was measured; say what failed
            out["errors"] = [f"subscriptions: {exc!r}"[:2000]]
            return out
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
            "client_cpu_us_per_delivery": 1e6
            * sum(f.client_cpu_seconds for f in fans)
            / deliveries,
            "method": "Event.created_at (stamped by the worker just before commit) to the"
            " client parsing the frame, in a separate client process; p50 and p99 are the"
            " medians of the runs' (each run a fresh upload and fresh subscribers)",
        }
        upload_id = fan.upload_id
        log("api: upload(id) status query against the bare endpoint")
        try:
            api = await status_load(running, upload_id, 2 if quick else 4, 2 if quick else 4, log)
        except Exception as exc:
            out["errors"] = [f"api: {exc!r}"[:2000]]
            return out
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
    return out


def _keep_previous(results: dict[str, Any], parts: set[str]) -> None:
    """Carry the parts not run this time over from the previous results file."""
    if not parts or not report.RESULTS.exists():
        return
    previous = json.loads(report.RESULTS.read_text())
    for part in parts:
        if part in previous.get("parts", {}):
            results["parts"][part] = previous["parts"][part]
        elif any(key in previous for key in PARTS[part]):
            results["parts"][part] = dict(previous["machine"], finished_at=previous["finished_at"])
        for key in PARTS[part]:
            if key in previous:
                results[key] = previous[key]


def _profile() -> int:
    from bench.profile import profile_all

    profiles = profile_all(inputs.large_inputs(INPUTS), log)
    PROFILE.write_text(json.dumps(profiles, indent=2) + "\n")
    log(f"wrote {PROFILE}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, small batch")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help="parts to run; the other parts are kept from the previous results.json",
    )
    parser.add_argument(
        "--profile", action="store_true", help=f"only profile the engine per input into {PROFILE}"
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    started = time.monotonic()
    results: dict[str, Any] = {
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    ensure_tools()
    if args.profile:
        return _profile()
    log("generating inputs (cached under scratch/bench/inputs)")
    inputs.large_inputs(INPUTS)
    if "conversion" in parts:
        results["conversion"] = conversion(args.quick)
    if "service" in parts:
        results.update(asyncio.run(service(args.quick)))
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["seconds"] = round(time.monotonic() - started, 1)
    results["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["parts"] = {
        part: dict(
            results["machine"], finished_at=results["finished_at"], seconds=results["seconds"]
        )
        for part in parts
    }
    _keep_previous(results, set(PARTS) - parts)
    print(report.write(results))
    log(f"wrote {report.RESULTS} in {results['seconds']:.0f}s; peak RSS unit MiB ({MiB} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
