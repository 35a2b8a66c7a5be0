"""Fixtures for tests through real third-party clients: a served API and a finished upload."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.e2e.client import create_upload, wait_terminal
from tests.e2e.harness import Cluster, cluster_env

ORIGIN = "http://app.example"  # the one origin the served API allows cross-origin


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
