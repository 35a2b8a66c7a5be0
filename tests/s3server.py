"""A real S3 API on loopback for tests: moto's standalone server in its own process."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.harness import free_port

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
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if '"' in line and " HTTP/1.1" in line]

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
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
    )
    server = S3Server(f"http://127.0.0.1:{port}", log, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{server.endpoint}/moto-api/", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"moto_server did not start; see {log}")


def create_bucket(endpoint: str, bucket: str) -> None:
    """Create a bucket (moto accepts unsigned bucket requests)."""
    httpx.put(f"{endpoint}/{bucket}", timeout=10).raise_for_status()


def remove_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object of a bucket, then the bucket (moto accepts unsigned requests)."""
    with httpx.Client(base_url=endpoint, timeout=30) as client:
        while True:
            listing = client.get(f"/{bucket}", params={"list-type": "2"}).text
            keys = re.findall(r"<Key>([^<]+)</Key>", listing)
            if not keys:
                break
            for key in keys:
                client.delete(f"/{bucket}/{key}")
        client.delete(f"/{bucket}")
