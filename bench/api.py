"""Status query load: `upload(id)` over GraphQL against a bare FastAPI endpoint reading the
same rows, each served by one uvicorn process, loaded by wrk (or httpx when wrk is missing)
with the same concurrency, rounds interleaved.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.client import STATUS
from bench.cluster import Cluster
from bench.measure import median, percentile
from tests.e2e.harness import free_port, wait_until

CONCURRENCY = 32
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class LoadResult:
    """One load round against one endpoint."""

    endpoint: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class ApiResult:
    """Medians over the rounds, per endpoint."""

    rounds: list[LoadResult]
    tool: str
    pages: int

    def share(self) -> float:
        """Median over rounds of GraphQL's requests/s as a share of the bare endpoint's, each
        round's two runs back to back (a slow spell of the machine hits both)."""
        graphql = [r.requests_per_second for r in self.rounds if r.endpoint == "graphql"]
        bare = [r.requests_per_second for r in self.rounds if r.endpoint == "bare"]
        return median([g / b for g, b in zip(graphql, bare, strict=True) if b])

    def summary(self, endpoint: str) -> tuple[float, float, float]:
        """Median requests/s, p50 and p99 of an endpoint's rounds."""
        mine = [r for r in self.rounds if r.endpoint == endpoint]
        return (
            median([r.requests_per_second for r in mine]),
            median([r.p50_ms for r in mine]),
            median([r.p99_ms for r in mine]),
        )


def _wrk(url: str, body: str | None, seconds: float, endpoint: str) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if body is not None:
            script.write(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(body)}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
    cmd = ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds:.0f}s", "--latency", "-s", script.name]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True)
    Path(script.name).unlink()
    return _parse_wrk(out.stdout, endpoint)


def _parse_wrk(text: str, endpoint: str) -> LoadResult:
    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
        if not match:
            raise RuntimeError(f"no {label}% latency in wrk output:\n{text}")
        return float(match.group(1)) * UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*?timeout (\d+)", text)
    return LoadResult(
        endpoint,
        float(rps.group(1)) if rps else 0.0,
        latency("50"),
        latency("99"),
        (int(bad.group(1)) if bad else 0) + (int(errors.group(1)) if errors else 0),
    )


async def _httpx_load(url: str, body: str | None, seconds: float, endpoint: str) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def user() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                start = time.perf_counter()
                if body is None:
                    response = await http.get(url)
                else:
                    response = await http.post(
                        url, content=body, headers={"Content-Type": "application/json"}
                    )
                latencies.append((time.perf_counter() - start) * 1000)
                errors += response.status_code != 200

        await asyncio.gather(*(user() for _ in range(CONCURRENCY)))
    return LoadResult(
        endpoint,
        len(latencies) / seconds,
        percentile(latencies, 50),
        percentile(latencies, 99),
        errors,
    )


async def _load(url: str, body: str | None, seconds: float, endpoint: str) -> LoadResult:
    if shutil.which("wrk"):
        return await asyncio.to_thread(_wrk, url, body, seconds, endpoint)
    return await _httpx_load(url, body, seconds, endpoint)


def _start_bare(cluster: Cluster) -> str:
    port = free_port()
    cluster.spawn(
        "bare",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{url}/docs"), 60, "the bare API", cluster)
    return url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def status_load(
    cluster: Cluster, upload_id: str, seconds: float, rounds: int, log: Callable[[str], None]
) -> ApiResult:
    """Interleaved rounds of load on both endpoints for the same upload."""
    bare = await asyncio.to_thread(_start_bare, cluster)
    body = json.dumps({"query": STATUS, "variables": {"id": upload_id}})
    targets = {
        "graphql": (cluster.graphql_url, body),
        "bare": (f"{bare}/uploads/{upload_id}", None),
    }
    pages = await _check_same(targets, upload_id)
    results = []
    try:
        for name, (url, payload) in targets.items():  # warm-up: connection pools, caches
            await _load(url, payload, 1, name)
        for n in range(rounds):
            order = list(targets.items()) if n % 2 == 0 else list(targets.items())[::-1]
            for name, (url, payload) in order:
                result = await _load(url, payload, seconds, name)
                log(
                    f"  {name}: {result.requests_per_second:.0f} req/s, p50 {result.p50_ms:.1f}"
                    f" ms, p99 {result.p99_ms:.1f} ms, {result.errors} errors"
                )
                results.append(result)
    finally:
        await asyncio.to_thread(cluster.stop, "bare")
    return ApiResult(results, "wrk" if shutil.which("wrk") else "httpx", pages)


async def _check_same(targets: dict[str, tuple[str, str | None]], upload_id: str) -> int:
    """Both endpoints answer with the same upload, documents and pages."""
    answers = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for name, (url, payload) in targets.items():
            if payload is None:
                response = await http.get(url)
            else:
                response = await http.post(
                    url, content=payload, headers={"Content-Type": "application/json"}
                )
            answers[name] = response.json()["data"]["upload"]
    shapes = {
        # URLs are built from each request's own host and port: compare the paths.
        name: [
            (d["id"], [p["url"].split("/files/")[1] for p in d["pages"]]) for d in a["documents"]
        ]
        for name, a in answers.items()
    }
    if len({json.dumps(s) for s in shapes.values()}) != 1:
        raise RuntimeError(f"endpoints disagree on upload {upload_id}: {shapes}")
    return sum(len(p) for _, p in shapes["graphql"])
