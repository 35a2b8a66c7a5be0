"""Dependencies a test may break: a PostgreSQL server of its own (stopped and started at
will, never the shared one) and a small filesystem of its own to fill."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import free_port
from tests.waiting import wait_until

SERVER_USER = "postgres"  # PostgreSQL refuses to run as root


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (initdb, pg_ctl)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing (scripts/services.sh)")
    return found[-1].parent


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a free port, trusted on loopback, fsync off."""

    data: Path
    port: int
    logs: Path

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """The URL of one database of this server."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        user = SERVER_USER if os.geteuid() == 0 else None
        log = (self.logs / "postgres-ctl.log").open("ab")
        subprocess.run(
            [str(postgres_bin() / argv[0]), *argv[1:]],
            user=user,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=True,
        )

    def init(self) -> None:
        """initdb with trust authentication for user postgres."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c full_page_writes=off -c max_connections=60"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: "immediate" is a crash (clients see their connections drop)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> None:
        """CREATE DATABASE through psql's sibling, createdb."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)


@contextlib.contextmanager
def private_postgres(logs: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of its own, running; stopped and deleted at the end."""
    # The server user must reach its data directory: not under root's private pytest tmp.
    data = Path(tempfile.mkdtemp(prefix="pagemill-pg-"))
    if os.geteuid() == 0:
        server_user = pwd.getpwnam(SERVER_USER)
        os.chown(data, server_user.pw_uid, server_user.pw_gid)
    os.chmod(data, 0o700)
    server = PostgresServer(data=data, port=free_port(), logs=logs)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def small_filesystem(size_mb: int) -> Iterator[Path]:
    """A tmpfs of `size_mb` MiB mounted on a fresh directory (needs root), unmounted after."""
    mountpoint = Path(tempfile.mkdtemp(prefix="pagemill-small-fs-"))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(mountpoint)],
        check=True,
    )
    try:
        yield mountpoint
    finally:
        # Lazy: a process still holding a file there (a test that failed) cannot keep it.
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        with contextlib.suppress(OSError):
            mountpoint.rmdir()


def fill(directory: Path, leave_bytes: int) -> Path:
    """Write a ballast file until the filesystem has about `leave_bytes` free; its path."""
    ballast = directory / "ballast"
    free = shutil.disk_usage(directory).free
    with ballast.open("wb") as out:
        remaining = max(0, free - leave_bytes)
        chunk = bytes(1024 * 1024)
        while remaining > 0:
            out.write(chunk[: min(len(chunk), remaining)])
            remaining -= min(len(chunk), remaining)
    return ballast


def answers(server: PostgresServer) -> bool:
    """True when the server accepts a connection."""
    try:
        subprocess.run(
            [str(postgres_bin() / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
            capture_output=True,
            timeout=5,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return False
    return True


def wait_down(server: PostgresServer, timeout: float = 30) -> None:
    """Wait until the server refuses connections."""
    wait_until(lambda: not answers(server), timeout, "PostgreSQL to stop")
