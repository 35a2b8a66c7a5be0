"""A real HTTP webhook receiver on loopback for tests: answers with scripted statuses and
records every request it got (headers, raw body, arrival time)."""

from __future__ import annotations

import base64
import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.waiting import eventually


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival


@dataclass
class Receiver:
    """Answers the n-th request with `statuses[n]` (200 once the script is used up)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, request: Received) -> int:
        """Record the request; the status to answer it with."""
        with self.lock:
            index = len(self.received)
            self.received.append(request)
            return self.statuses[index] if index < len(self.statuses) else 200

    async def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Wait (without blocking the event loop) until `count` requests arrived; fails
        after `timeout` seconds."""

        def arrived() -> list[Received] | None:
            with self.lock:
                return list(self.received) if len(self.received) >= count else None

        return await eventually(arrived, timeout, f"{count} requests", interval=0.05)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.answer(Received(self.path, headers, body, time.time()))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@contextlib.contextmanager
def receiver(*statuses: int) -> Iterator[Receiver]:
    """A Receiver serving on a free loopback port until the block ends."""
    hook = Receiver(statuses=list(statuses))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
    hook.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def new_secret() -> str:
    """A fresh Standard Webhooks secret (whsec_ and 24 random bytes in base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def dead_url() -> str:
    """A loopback URL nothing listens on (connections are refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}/hook"
