"""`make bench`: `uv run python -m bench [--quick] [--only conversion,service] [--profile]`."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
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
    "service": ["throughput", "pdf_batch", "long_document", "subscriptions", "api", "errors"],
}
LONG_PAGES = 250  # pages from which a PDF is "long": run once, and on 1 and 2 workers


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def all_inputs() -> list[inputs.Input]:
    """Generated and real PDFs, the images, and the long PDF (the memory monster)."""
    from bench.real import long_pdf, real_pdfs

    found = inputs.large_inputs(INPUTS) + real_pdfs(INPUTS / "real")
    long = long_pdf(INPUTS / "real")
    return found + ([long] if long else [])


def conversion(quick: bool) -> list[dict[str, Any]]:
    """Per-input rows: pagemill's child against the one-process floor (and vipsthumbnail)."""
    from bench.conversion import bench_all

    chosen = all_inputs()
    long = [inp for inp in chosen if inp.pages >= LONG_PAGES]
    results = bench_all([i for i in chosen if i not in long], 1 if quick else 3, log)
    results |= bench_all(long, 1, log)  # one run each: it takes ~10 s per tool
    rows = []
    for inp in chosen:
        tools: dict[str, dict[str, Any]] = {t.tool: t.row() for t in results[inp.name]}
        pm, floor = tools["pagemill"], tools["floor"]
        size = pm.get("size") or [0, 0]
        rows.append(
            {
                "input": inp.name,
                "pages": inp.pages,
                "output": f"{size[0]}x{size[1]}",
                **tools,
                "ratio": _ratio(pm["seconds"], floor["seconds"]),
                "cpu_ratio": _ratio(pm["cpu_seconds"], floor["cpu_seconds"]),
            }
        )
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


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
    all_inputs()
    if "conversion" in parts:
        results["conversion"] = conversion(args.quick)
    if "service" in parts:
        from bench.service import service

        pdfs = [i for i in all_inputs() if i.kind == "pdf"]
        floors = {
            r["input"]: (r.get("floor") or {}).get("seconds") for r in results.get("conversion", [])
        }
        results.update(asyncio.run(service(args.quick, pdfs, floors, log)))
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
