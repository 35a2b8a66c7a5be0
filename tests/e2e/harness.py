"""Real pagemill processes for end-to-end tests: the API (uvicorn) and taskiq workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.waiting import wait_until as wait_until  # bench/ imports it from here

BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A set of pagemill processes sharing one environment (database, Redis prefix, storage)."""

    env: dict[str, str]
    logs: Path
    port: int = 0
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis: RedisServer | None = None  # a private server, when the cluster has one

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            [str(BIN / "pagemill"), *args],
            cwd=PROJECT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a one-off pagemill command (e.g. migrate) in this environment."""
        return subprocess.run(
            [str(BIN / "pagemill"), *args],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )

    def start_api(self, timeout: float = 60) -> None:
        """Start `pagemill serve` and wait until /healthz answers."""
        self.port = free_port()
        self.api = self._spawn("api", ["serve", "--host", "127.0.0.1", "--port", str(self.port)])
        wait_until(lambda: healthy(self.url), timeout, "API /healthz", self)

    def start_worker(
        self, processes: int = 1, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start one `pagemill worker` (`env` overrides the cluster's) and return its process."""
        args = ["worker", "--processes", str(processes)]
        proc = self._spawn(f"worker{len(self.workers)}", args, env)
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        """Stop every process of the cluster (SIGTERM, then SIGKILL)."""
        procs = [p for p in [self.api, *self.workers] if p is not None]
        for proc in procs:
            signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            signal_group(proc, signal.SIGKILL)
            proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of every process log, for failure messages."""
        out = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)


def signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def cluster_env(base: dict[str, str], logs: Path) -> Iterator[Cluster]:
    """A Cluster that is always stopped at the end."""
    cluster = Cluster(env=base, logs=logs)
    try:
        yield cluster
    finally:
        cluster.stop()


def restart_api(cluster: Cluster, *, kill: bool = False, timeout: float = 60) -> None:
    """Stop the API (SIGKILL when `kill`, else SIGTERM) and start it again on the same port."""
    assert cluster.api is not None
    signal_group(cluster.api, signal.SIGKILL if kill else signal.SIGTERM)
    cluster.api.wait(timeout=30)
    args = ["serve", "--host", "127.0.0.1", "--port", str(cluster.port)]
    cluster.api = cluster._spawn("api", args)
    wait_until(lambda: healthy(cluster.url), timeout, "API /healthz after restart", cluster)


def kill_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a `pagemill worker`'s whole process group (supervisor and taskiq processes)."""
    signal_group(proc, signal.SIGKILL)
    proc.wait(timeout=30)


@dataclass
class RedisServer:
    """A private redis-server keeping nothing on disk, so a restart loses every key."""

    port: int
    logs: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        """Start redis-server on the port and wait until it answers PING."""
        log = (self.logs / "redis.log").open("ab")
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout, f"redis-server on port {self.port}")

    def kill(self) -> None:
        """SIGKILL the server (its data is gone) and wait until it has exited."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextlib.contextmanager
def private_redis(logs: Path) -> Iterator[RedisServer]:
    """A RedisServer on a free port, killed at the end."""
    server = RedisServer(port=free_port(), logs=logs)
    server.start()
    try:
        yield server
    finally:
        server.kill()
