"""Fixtures for tests through real third-party clients: a served API and a finished upload."""

from __future__ import annotations

import functools
import io
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from tests.e2e.client import create_upload, wait_terminal
from tests.e2e.harness import Cluster, cluster_env, free_port

# A browser app's origins: on loopback, as the API is (Chromium asks permission before a page
# from a public address reaches loopback). The API allows the first one only.
APP_PORT = free_port()
ORIGIN = f"http://localhost:{APP_PORT}"
OTHER_ORIGIN = f"http://127.0.0.1:{APP_PORT}"


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`pagemill serve` on the embedded default, allowing ORIGIN cross-origin."""
    root = tmp_path_factory.mktemp("served")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(
        PAGEMILL_STORAGE_DIR=str(root / "storage"),
        PAGEMILL_ALLOWED_ORIGINS=f'["{ORIGIN}"]',
    )
    with cluster_env(env, root) as cluster:
        cluster.start_api()
        yield cluster


@pytest.fixture(scope="session")
def app_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A static server on APP_PORT, serving a blank page as the browser app's."""
    root = tmp_path_factory.mktemp("app")
    (root / "index.html").write_text("<!doctype html><title>app</title>")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", APP_PORT), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ORIGIN
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
async def finished_upload(
    served: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A COMPLETED upload of one small PNG on the served API."""
    path = tmp_path_factory.mktemp("inputs") / "square.png"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), "teal").save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    created = await create_upload(served.graphql_url, [path])
    return await wait_terminal(served.graphql_url, created["id"])
