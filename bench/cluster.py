"""Real pagemill processes for the service benchmarks: API and workers on Redis + PostgreSQL.

Each benchmark run gets a fresh PostgreSQL database (dropped afterwards), its own Redis
prefix (keys deleted afterwards) and its own storage directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tests.e2e.harness import free_port, healthy, signal_group, wait_until

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("PAGEMILL_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("PAGEMILL_BENCH_REDIS", "redis://127.0.0.1:6379/0")
WORKERS = "query { workers { id pid } }"


@dataclass
class Cluster:
    """pagemill processes sharing one database, Redis prefix and storage directory."""

    env: dict[str, str]
    root: Path  # process logs
    port: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start a long-running process, logging to root/<name>.log."""
        log = (self.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            args,
            cwd=PROJECT,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def run(self, *args: str) -> None:
        """Run a one-off `pagemill` command (e.g. migrate) and fail loudly if it fails."""
        subprocess.run(
            [str(BIN / "pagemill"), *args],
            cwd=PROJECT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start_api(self) -> None:
        """`pagemill serve` on a free port; returns once /healthz answers."""
        self.port = free_port()
        self.spawn("api", [str(BIN / "pagemill"), "serve", "--port", str(self.port)])
        wait_until(lambda: healthy(self.url), 60, "the API", self)

    def start_workers(self, processes: int, env: dict[str, str] | None = None) -> str:
        """`pagemill worker --processes N` (`env` added to the cluster's); returns its name
        once N worker processes heartbeat."""
        name = f"worker{processes}"
        args = [str(BIN / "pagemill"), "worker", "--processes", str(processes)]
        self.spawn(name, args, {**self.env, **(env or {})})
        root = psutil.Process(self.procs[name].pid)

        def ready() -> bool:
            pids = {p.pid for p in root.children(recursive=True)} | {root.pid}
            with contextlib.suppress(httpx.HTTPError, KeyError, TypeError):
                rows = httpx.post(self.graphql_url, json={"query": WORKERS}, timeout=5).json()
                return sum(w["pid"] in pids for w in rows["data"]["workers"]) >= processes
            return False

        wait_until(ready, 60, f"{processes} worker processes", self)
        return name

    def stop(self, name: str) -> None:
        """SIGTERM a process group, SIGKILL it if it lingers."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait()

    def api_pid(self) -> int:
        """The pid of the process serving the API (uvicorn runs in the `pagemill` process)."""
        return self.procs["api"].pid

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of every log, for failure messages."""
        out = []
        for log in sorted(self.root.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)


async def _admin(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _clear_redis(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)
    await client.aclose()


@contextlib.asynccontextmanager
async def cluster(logs: Path) -> AsyncIterator[Cluster]:
    """A migrated database, a Redis prefix and the API, all removed at the end (process
    logs are kept under `logs`)."""
    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    db = f"pagemill_bench_{run_id}"
    prefix = f"pagemill-bench-{run_id}"
    await _admin(f'CREATE DATABASE "{db}"')
    with tempfile.TemporaryDirectory(prefix="pagemill-bench-cluster-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
        env.update(
            PAGEMILL_STORAGE_DIR=str(Path(tmp) / "storage"),
            PAGEMILL_DATABASE_URL=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{db}",
            PAGEMILL_REDIS_URL=REDIS_URL,
            PAGEMILL_REDIS_PREFIX=prefix,
            PAGEMILL_DEDUPE_WINDOW="0",  # every batch is converted, never deduplicated
            PAGEMILL_LOG_LEVEL="WARNING",
            PAGEMILL_MAX_FILES="2000",
        )
        logs.mkdir(parents=True, exist_ok=True)
        running = Cluster(env=env, root=logs)
        try:
            await asyncio.to_thread(running.run, "migrate")
            await asyncio.to_thread(running.start_api)
            yield running
        finally:
            for name in list(running.procs):
                await asyncio.to_thread(running.stop, name)
            await _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            await _clear_redis(prefix)
