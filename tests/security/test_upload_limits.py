"""Upload limits enforced while the multipart body streams, against the real `pagemill
serve` process: a part over the per-file limit is refused early, and no spooled file
stays open in the API process afterwards, whatever the outcome."""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Cluster, cluster_env
from tests.gql.support import PREFLIGHT, multipart, png
from tests.security.test_api_abuse import BOUNDARY, _preamble

MiB = 1024 * 1024
FILE_LIMIT = 2 * MiB
PART = 64 * MiB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`pagemill serve` (embedded) taking files of at most 2 MiB, 3 per request."""
    root = tmp_path_factory.mktemp("uploads")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env |= {
        "PAGEMILL_STORAGE_DIR": str(root / "storage"),
        "PAGEMILL_MAX_FILE_BYTES": str(FILE_LIMIT),
        "PAGEMILL_MAX_FILES": "3",
    }
    with cluster_env(env, root) as cluster:
        cluster.start_api()
        yield cluster


def _spools(cluster: Cluster) -> list[str]:
    """Deleted files the API process holds open (a spool is unlinked when made)."""
    assert cluster.api is not None
    fd_dir = Path(f"/proc/{cluster.api.pid}/fd")
    links = []
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            links.append(os.readlink(fd))
    return [link for link in links if "(deleted)" in link and "sqlite" not in link]


def _stream_part(cluster: Cluster, path: bytes) -> tuple[bytes, int]:
    """POST a multipart body whose one file part is PART bytes; the response, bytes sent."""
    preamble = _preamble()
    head = [
        b"POST " + path + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode(),
        b"Apollo-Require-Preflight: true",
        b"Content-Length: %d" % (len(preamble) + PART),
    ]
    sent = 0
    with socket.create_connection(("127.0.0.1", cluster.port), timeout=60) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + preamble)
        with contextlib.suppress(OSError):
            while sent < PART and not select.select([sock], [], [], 0)[0]:
                sock.sendall(b"\0" * 65536)
                sent += 65536
        response = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                response += chunk
                if response.rstrip().endswith(b"}"):
                    break
    return response, sent


def test_a_part_over_the_file_limit_is_refused_while_it_streams(server: Cluster) -> None:
    for path in (b"/graphql", b"/api/v1/jobs"):
        response, sent = _stream_part(server, path)
        assert response.startswith(b"HTTP/1.1 413"), response[:300]
        body = json.loads(response.partition(b"\r\n\r\n")[2])
        code = body["code"] if path.startswith(b"/api") else body["errors"][0]["extensions"]["code"]
        assert code == "PAYLOAD_TOO_LARGE", body
        assert sent < 8 * FILE_LIMIT, sent  # refused near the limit, not after 64 MiB
    assert _spools(server) == []
    storage = Path(server.env["PAGEMILL_STORAGE_DIR"])
    assert not (storage / "uploads").exists() or not any((storage / "uploads").iterdir())


def test_no_spooled_file_stays_open_after_uploads(server: Cluster) -> None:
    big = os.urandom(FILE_LIMIT - 1000)  # spooled to disk (over Starlette's 1 MiB in memory)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for _ in range(3):
            done = c.post(
                "/graphql", **multipart([("a.png", png()), ("b", big)]), headers=PREFLIGHT
            )
            assert not done.json().get("errors"), done.json()
            job = c.post("/api/v1/jobs", files={"files": ("b", big)}, headers=PREFLIGHT)
            assert job.status_code == 202, job.text
        too_many = c.post("/graphql", **multipart([("a", big)] * 4), headers=PREFLIGHT)
        assert too_many.status_code == 413
        assert too_many.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        rest = c.post("/api/v1/jobs", files=[("files", ("a", big))] * 4, headers=PREFLIGHT)
        assert rest.status_code == 413 and rest.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert _spools(server) == []
