"""Downloads stay inside the storage root; health, readiness and metrics answer."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI


async def raw_get(app: FastAPI, raw_path: str) -> int:
    """Status of a GET sent exactly as given (clients would normalise `..` away)."""
    messages: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw_path), "raw_path": raw_path.encode(),
        "query_string": b"", "root_path": "", "headers": [(b"host", b"test")],
        "server": ("test", 80), "client": ("127.0.0.1", 1),
    }  # fmt: skip

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return int(messages[0]["status"])


@pytest.fixture(scope="module")
def secret(storage_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("secret")
    inside = storage_dir / "uploads"
    inside.mkdir(parents=True, exist_ok=True)
    link = inside / "link.txt"
    if not link.exists():
        os.symlink(outside, link)
    (storage_dir / "private.txt").write_text("database")
    (storage_dir / "tmp").mkdir(exist_ok=True)
    (storage_dir / "tmp" / "private.txt").write_text("spooled")
    if not (inside / "to-root.txt").exists():
        os.symlink(storage_dir / "private.txt", inside / "to-root.txt")
    (inside / "fine.png").write_bytes(b"\x89PNG\r\n\x1a\nrest")
    return outside


@pytest.mark.parametrize(
    "path",
    [
        "/files/../secret.txt",
        "/files/uploads/../../secret.txt",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/uploads/%2E%2E/%2E%2E/etc/passwd",
        "/files//etc/passwd",
        "/files/%2Fetc%2Fpasswd",
        "/files/uploads/link.txt",
        "/files/uploads",
        "/files/",
        "/files/private.txt",
        "/files/tmp/private.txt",
        "/files/uploads/to-root.txt",
    ],
)
async def test_paths_leaving_the_storage_root_are_404(
    app: FastAPI, secret: Path, path: str
) -> None:
    assert await raw_get(app, path) == 404


async def test_stored_file_downloads_with_its_type(client: httpx.AsyncClient, secret: Path) -> None:
    response = await client.get("/files/uploads/fine.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == b"\x89PNG\r\n\x1a\nrest"


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"] == "ok"
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "pagemill_documents" in metrics.text
