"""Targets, the markdown table and bench/results.json from the benchmark's results."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().with_name("results.json")

# The service's speed and memory targets.
MAX_TIME_RATIO = 1.2
MAX_RSS_MB = 200.0
MIN_SCALING = 1.8
MIN_API_SHARE = 50.0
MAX_FANOUT_P99_MS = 100.0


@dataclass(frozen=True)
class Target:
    """One target: met when value is on the right side of limit."""

    name: str
    value: float
    limit: float
    unit: str
    at_most: bool  # True: value <= limit; False: value >= limit

    @property
    def met(self) -> bool:
        if math.isnan(self.value):
            return False
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _num(self.value),
            "limit": self.limit,
            "unit": self.unit,
            "comparison": "<=" if self.at_most else ">=",
            "met": self.met,
        }


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def targets(results: dict[str, Any]) -> list[Target]:
    """Every target the results speak to."""
    found: list[Target] = []
    for row in results.get("conversion", []):
        found.append(
            Target(
                f"time {row['input']}", _f(row.get("ratio")), MAX_TIME_RATIO, "x fastest raw", True
            )
        )
        found.append(
            Target(
                f"peak RSS {row['input']}", _f(row["pagemill"]["peak_mb"]), MAX_RSS_MB, "MB", True
            )
        )
    tp = results.get("throughput")
    if tp:
        found.append(Target("2 workers vs 1", _f(tp.get("scaling")), MIN_SCALING, "x", False))
    api = results.get("api")
    if api:
        found.append(
            Target(
                "status query vs bare",
                _f(api.get("share_percent")),
                MIN_API_SHARE,
                "% of bare req/s",
                False,
            )
        )
    subs = results.get("subscriptions")
    if subs:
        found.append(
            Target(
                f"PAGE_DONE p99 at {subs['subscribers']} subscribers",
                _f(subs.get("p99_ms")),
                MAX_FANOUT_P99_MS,
                "ms",
                True,
            )
        )
    return found


def _f(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def _fmt(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    """The benchmark's tables as markdown."""
    lines = [f"pagemill benchmark ({'quick' if results['quick'] else 'full'})", ""]
    for part, meta in results.get("parts", {}).items():
        lines.append(
            f"- {part}: finished {meta.get('finished_at')}, load average"
            f" {meta.get('loadavg_start')} at start, {meta.get('loadavg_end')} at end"
        )
    lines += [
        "",
        "| input | output | pagemill s (cpu) | peak RSS MB | fastest raw | raw s (cpu)"
        " | raw RSS MB | ratio (cpu ratio) | others |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results.get("conversion", []):
        pm, fast = row["pagemill"], row.get("fastest") or {}
        others = ", ".join(
            f"{t['tool']} {_fmt(t['seconds'])}s"
            if t.get("error") is None
            else f"{t['tool']}: {t['error']}"
            for t in row["raw"]
            if t["tool"] != fast.get("tool")
        )
        lines.append(
            f"| {row['input']} | {row['output']}"
            f" | {_fmt(pm['seconds'])} ({_fmt(pm['cpu_seconds'])})"
            f" | {_fmt(pm['peak_mb'], 0)} | {fast.get('tool', '-')} | {_fmt(fast.get('seconds'))}"
            f" ({_fmt(fast.get('cpu_seconds'))}) | {_fmt(fast.get('peak_mb'), 0)}"
            f" | {_fmt(row.get('ratio'))} ({_fmt(row.get('cpu_ratio'))}) | {others} |"
        )
    tp = results.get("throughput")
    if tp:
        lines += [
            "",
            "| batch | 1 worker docs/s | 2 workers docs/s | scaling |",
            "|---|---|---|---|",
        ]
        lines.append(
            f"| {tp['documents']} small images | {_fmt(tp['one']['docs_per_second'])}"
            f" | {_fmt(tp['two']['docs_per_second'])} | {_fmt(tp['scaling'])}x |"
        )
    api = results.get("api")
    if api:
        lines += [
            "",
            f"| status query ({api['pages']} pages, {api['tool']}, {api['concurrency']}"
            " connections) | req/s | p50 ms | p99 ms |",
            "|---|---|---|---|",
        ]
        for name in ("graphql", "bare"):
            e = api[name]
            lines.append(
                f"| {name} | {_fmt(e['rps'], 0)} | {_fmt(e['p50_ms'])} | {_fmt(e['p99_ms'])} |"
            )
    subs = results.get("subscriptions")
    if subs:
        lines += [
            "",
            "| subscribers | PAGE_DONE events | deliveries per run | missing | p50 ms | p99 ms"
            " | p99 ms per run |",
            "|---|---|---|---|---|---|---|",
        ]
        runs = ", ".join(_fmt(r["p99_ms"], 1) for r in subs.get("runs", []))
        lines.append(
            f"| {subs['subscribers']} | {subs['events']} | {subs['deliveries']} | {subs['missing']}"
            f" | {_fmt(subs['p50_ms'], 1)} | {_fmt(subs['p99_ms'], 1)} | {runs or '-'} |"
        )
    for error in results.get("errors", []):
        lines += ["", f"failed: {error}"]
    lines += ["", "| target | value | limit | met |", "|---|---|---|---|"]
    for t in results["targets"]:
        op = t["comparison"]
        lines.append(
            f"| {t['name']} | {_fmt(t['value'])} {t['unit']} | {op} {t['limit']}"
            f" | {'yes' if t['met'] else 'NO'} |"
        )
    return "\n".join(lines)


def write(results: dict[str, Any], path: Path = RESULTS) -> str:
    """Add the targets, write the JSON file and return the markdown."""
    results["targets"] = [t.as_dict() for t in targets(results)]
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return markdown(results)
