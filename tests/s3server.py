"""A real S3 API on loopback for tests: moto's standalone server in its own process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import obstore
from obstore.store import S3Store

from tests.e2e.harness import free_port
from tests.waiting import wait_until

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "pagemill-test",
    "AWS_SECRET_ACCESS_KEY": "pagemill-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    """A running moto server; its log has one line per request."""

    endpoint: str
    log: Path
    process: subprocess.Popen[bytes]

    def requests(self) -> list[str]:
        """The request lines logged so far (method and path)."""
        # werkzeug colours the lines of non-200 answers (206, 404...): drop the escapes.
        text = ANSI.sub("", self.log.read_text(errors="replace"))
        return [line for line in text.splitlines() if '"' in line and " HTTP/1.1" in line]

    def stop(self) -> None:
        """Stop the server (its objects are gone with it)."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(log: Path) -> S3Server:
    """Start `moto_server` on a free loopback port and wait until it answers."""
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    out = log.open("ab")
    # Unbuffered: tests count the requests in the log while the server runs.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
    )
    server = S3Server(f"http://127.0.0.1:{port}", log, process)

    def answers() -> bool:
        try:
            httpx.get(f"{server.endpoint}/moto-api/", timeout=1)
        except httpx.TransportError:
            return False
        return True

    try:
        wait_until(answers, 30, f"moto_server to answer (its log: {log})")
    except AssertionError:
        server.stop()
        raise
    return server


def create_bucket(endpoint: str, bucket: str) -> None:
    """Create a bucket (moto accepts unsigned bucket requests)."""
    httpx.put(f"{endpoint}/{bucket}", timeout=10).raise_for_status()


def remove_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object of a bucket (signed requests), then the bucket."""
    store = S3Store(
        bucket,
        endpoint=endpoint,
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )
    for batch in obstore.list(store):
        obstore.delete(store, [meta["path"] for meta in batch])
    httpx.delete(f"{endpoint}/{bucket}", timeout=10)
