"""Targets, the markdown table and bench/results.json from the benchmark's results."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().with_name("results.json")

# The targets (each in results.json with `met`).
MAX_ENGINE_RATIO = 1.15  # the engine alone against the one-process floor, every input
MAX_RSS_MB = 200.0  # peak RSS of a conversion process, every input
MAX_SERVICE_PDF_RATIO = 1.0  # PDFs through the whole service on 2 cores against the floor
MIN_IMAGE_FLOOR_RATIO = 1.6  # small images, 2 worker processes against the floor's docs/s
MIN_SCALING = 1.85  # small images, 2 worker processes against 1
MAX_LONG_RATIO = 0.6  # one long PDF, 2 worker processes against 1
MIN_API_RATIO = 1.0  # status poll of an unchanged upload against a bare endpoint
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
        name = row["input"]
        # CPU seconds: both are single-threaded warm processes, and on a shared 2-core host
        # wall time swings with the neighbours' load (the table has both).
        ratio = _f(row.get("cpu_ratio"))
        found.append(Target(f"engine {name}", ratio, MAX_ENGINE_RATIO, "x floor CPU", True))
        rss = _f(row["pagemill"]["peak_mb"])
        found.append(Target(f"peak RSS {name}", rss, MAX_RSS_MB, "MB", True))
    pdfs = results.get("pdf_batch")
    if pdfs:
        value = _f(pdfs.get("ratio"))
        found.append(
            Target("PDFs via service, 2 workers", value, MAX_SERVICE_PDF_RATIO, "x floor", True)
        )
    tp = results.get("throughput")
    if tp:
        floor = _f(tp.get("floor_ratio"))
        found.append(Target("images, 2 workers vs floor", floor, MIN_IMAGE_FLOOR_RATIO, "x", False))
        found.append(
            Target("images, 2 workers vs 1", _f(tp.get("scaling")), MIN_SCALING, "x", False)
        )
    long = results.get("long_document")
    if long:
        value = _f(long.get("ratio"))
        found.append(
            Target(f"{long['input']}, 2 workers vs 1", value, MAX_LONG_RATIO, "x time", True)
        )
    api = results.get("api")
    if api:
        value = _f(api.get("share_percent")) / 100
        found.append(Target("status poll vs bare", value, MIN_API_RATIO, "x bare req/s", False))
    subs = results.get("subscriptions")
    if subs:
        name = f"PAGE_DONE p99 at {subs['subscribers']} subscribers"
        found.append(Target(name, _f(subs.get("p99_ms")), MAX_FANOUT_P99_MS, "ms", True))
    return found


def _slots(part: dict[str, Any]) -> str:
    """The default slots per process of a part's stock runs: "2 / 1" for 1 and 2 processes."""
    slots = part.get("default_slots") or {}
    return f"default ({slots.get('1', '?')} / {slots.get('2', '?')})"


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
        "| input | pages | output | pagemill s (cpu) | peak RSS MB | floor s (cpu) | floor RSS MB"
        " | ratio (cpu) | vipsthumbnail s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results.get("conversion", []):
        pm, floor, vt = row["pagemill"], row.get("floor") or {}, row.get("vipsthumbnail") or {}
        lines.append(
            f"| {row['input']} | {row['pages']} | {row['output']}"
            f" | {_fmt(pm['seconds'])} ({_fmt(pm['cpu_seconds'])}) | {_fmt(pm['peak_mb'], 0)}"
            f" | {_fmt(floor.get('seconds'))} ({_fmt(floor.get('cpu_seconds'))})"
            f" | {_fmt(floor.get('peak_mb'), 0)} | {_fmt(row.get('ratio'))}"
            f" ({_fmt(row.get('cpu_ratio'))}) | {_fmt(vt.get('seconds'))} |"
        )
    pdfs = results.get("pdf_batch")
    if pdfs:
        lines += [
            "",
            "| PDFs through the service (2 workers) | pages | seconds | floor s | ratio |",
            "|---|---|---|---|---|",
            f"| {', '.join(pdfs['inputs'])} | {pdfs['pages']} | {_fmt(pdfs['seconds'])}"
            f" | {_fmt(pdfs['floor_seconds'])} | {_fmt(pdfs.get('ratio'))} |",
        ]
    long = results.get("long_document")
    if long:
        lines += [
            "",
            "| long PDF | pages | slots per process | 1 worker s | 2 workers s | ratio |",
            "|---|---|---|---|---|---|",
            f"| {long['input']} | {long['pages']} | 1 | {_fmt(long['one_seconds'])}"
            f" | {_fmt(long['two_seconds'])} | {_fmt(long['ratio'])} |",
        ]
        if "one_default_seconds" in long:
            lines.append(
                f"| {long['input']} | {long['pages']} | {_slots(long)}"
                f" | {_fmt(long['one_default_seconds'])} | {_fmt(long['two_default_seconds'])}"
                f" | {_fmt(long['ratio_default'])} |"
            )
    tp = results.get("throughput")
    if tp:
        lines += [
            "",
            "| batch | slots per process | floor docs/s | 1 worker docs/s | 2 workers docs/s"
            " | 2 vs 1 | 2 vs floor |",
            "|---|---|---|---|---|---|---|",
        ]
        floor = _fmt(tp.get("floor_docs_per_second"))
        lines.append(
            f"| {tp['documents']} small images | 1 | {floor}"
            f" | {_fmt(tp['one']['docs_per_second'])} | {_fmt(tp['two']['docs_per_second'])}"
            f" | {_fmt(tp['scaling'])}x | {_fmt(tp.get('floor_ratio'))}x |"
        )
        if "one_default" in tp:
            lines.append(
                f"| {tp['documents']} small images | {_slots(tp)} | {floor}"
                f" | {_fmt(tp['one_default']['docs_per_second'])}"
                f" | {_fmt(tp['two_default']['docs_per_second'])}"
                f" | {_fmt(tp['scaling_default'])}x | {_fmt(tp.get('floor_ratio_default'))}x |"
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
