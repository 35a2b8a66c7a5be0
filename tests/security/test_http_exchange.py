"""The HTTP exchange against the real `pagemill serve` process: huge and slow heads, slow
bodies, too many connections, and clients that hang up mid-body (loopback only)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Cluster, cluster_env
from tests.security.test_api_abuse import BOUNDARY, _preamble
from tests.waiting import wait_until

HEAD_BYTES = 16 * 1024
HEAD_SECONDS = 2.0
BODY_SECONDS = 2.0
CONNECTIONS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`pagemill serve` (embedded) with small head, body and connection limits."""
    root = tmp_path_factory.mktemp("exchange")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env |= {
        "PAGEMILL_STORAGE_DIR": str(root / "storage"),
        "PAGEMILL_MAX_HEADER_BYTES": str(HEAD_BYTES),
        "PAGEMILL_HEADER_TIMEOUT": str(HEAD_SECONDS),
        "PAGEMILL_BODY_TIMEOUT": str(BODY_SECONDS),
        "PAGEMILL_BODY_MIN_RATE": "1000",
        "PAGEMILL_MAX_CONNECTIONS": str(CONNECTIONS),
    }
    with cluster_env(env, root) as cluster:
        cluster.start_api()
        yield cluster


def _connect(cluster: Cluster) -> socket.socket:
    return socket.create_connection(("127.0.0.1", cluster.port), timeout=30)


def _response(sock: socket.socket) -> tuple[int, dict[str, object] | None]:
    """Status and JSON body of the response on the socket, read until the server closes."""
    data = b""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, json.loads(body) if body.startswith(b"{") else None


def _code(body: dict[str, object] | None) -> str:
    assert body is not None
    errors = body["errors"]
    assert isinstance(errors, list)
    return str(errors[0]["extensions"]["code"])


def test_a_huge_header_is_refused_with_431_before_it_ends(server: Cluster) -> None:
    sent = 0
    with _connect(server) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        with contextlib.suppress(OSError):  # the server hangs up on the way: expected
            while sent < 40 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        status, body = _response(sock)
    assert status == 431 and _code(body) == "HEADERS_TOO_LARGE"
    assert sent < 4 * 1024 * 1024  # cut off long before the 40 MB the client meant to send
    many = [(f"X-H{i}", "v" * 100) for i in range(200)]  # many ordinary headers, 20 KB
    refused = httpx.get(f"{server.url}/healthz", headers=many)
    assert refused.status_code == 431
    assert httpx.get(f"{server.url}/healthz", headers=many[:50]).status_code == 200


def test_a_head_sent_a_byte_at_a_time_is_refused_with_408(server: Cluster) -> None:
    started = time.monotonic()
    with _connect(server) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 100
        with contextlib.suppress(OSError):
            for byte in head:
                if select.select([sock], [], [], 0.1)[0]:
                    break  # the server answered
                sock.sendall(bytes([byte]))
        status, body = _response(sock)
    assert status == 408 and _code(body) == "REQUEST_TIMEOUT"
    assert time.monotonic() - started < HEAD_SECONDS + 5
    started = time.monotonic()
    with _connect(server) as idle:  # nothing sent at all: closed without an answer
        assert _response(idle) == (0, None)
    assert time.monotonic() - started < HEAD_SECONDS + 5


def test_a_trickling_body_is_refused_with_408(server: Cluster) -> None:
    started = time.monotonic()
    with _connect(server) as sock:
        head = [
            b"POST /graphql HTTP/1.1",
            b"Host: 127.0.0.1",
            b"Content-Type: application/json",
            b"Content-Length: 1000",
        ]
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        with contextlib.suppress(OSError):
            for _ in range(100):  # 1 byte every 0.1 s: would take 100 s
                if select.select([sock], [], [], 0.1)[0]:
                    break  # the server answered
                sock.sendall(b" ")
        status, body = _response(sock)
    assert status == 408 and _code(body) == "REQUEST_TIMEOUT"
    assert time.monotonic() - started < BODY_SECONDS + 5
    ok = httpx.post(server.graphql_url, json={"query": "{ ping }"})
    assert ok.json()["data"]["ping"]


def test_connections_past_the_bound_get_503_until_some_close(server: Cluster) -> None:
    held = [_connect(server) for _ in range(CONNECTIONS)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # a head that never ends
        wait_until(lambda: _health(server) == 503, 10, "503 past the bound", server)
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: _health(server) == 200, 10, "200 once the held connections closed", server)


def _health(server: Cluster) -> int:
    return httpx.get(f"{server.url}/healthz").status_code


def test_a_client_hanging_up_mid_body_is_logged_in_one_line(server: Cluster) -> None:
    log = Path(server.logs / "api.log")
    before = log.read_text(errors="replace")
    for hung_up in range(1, 4):
        with _connect(server) as sock:
            head = [
                b"POST /graphql HTTP/1.1",
                b"Host: 127.0.0.1",
                b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode(),
                b"Apollo-Require-Preflight: true",
                b"Content-Length: 10000000",
            ]
            sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + _preamble() + b"\0" * 100_000)

        def logged(count: int = hung_up) -> bool:
            added = log.read_text(errors="replace")[len(before) :]
            return added.count("hung up before its request body ended") >= count

        wait_until(logged, 10, f"hang-up {hung_up} logged", server)
    ok = httpx.post(server.graphql_url, json={"query": "{ ping }"})
    assert ok.json()["data"]["ping"]
    added = log.read_text(errors="replace")[len(before) :]
    assert "Traceback" not in added and "Exception in ASGI" not in added, added[-3000:]
    assert added.count("hung up before its request body ended") == 3, added[-3000:]
