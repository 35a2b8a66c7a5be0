"""Test-wide setup: each run gets its own PostgreSQL database, Redis prefix and storage dir."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests import s3server
from tests.s3server import S3Server
from tests.webhook_receiver import new_secret

RUN_ID = f"{os.getpid()}_{secrets.token_hex(4)}"
# Webhooks on, receivers on loopback allowed, and a short retry schedule: 3 attempts in ~1.5 s.
WEBHOOK_TEST_ENV = {
    "PAGEMILL_WEBHOOK_SECRET": new_secret(),
    "PAGEMILL_WEBHOOK_ALLOW_PRIVATE": "true",
    "PAGEMILL_WEBHOOK_RETRY_SCHEDULE": "[0.5, 1.0]",
    "PAGEMILL_WEBHOOK_POLL_INTERVAL": "0.25",
}
PG_ADMIN_URL = os.environ.get("PAGEMILL_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("PAGEMILL_TEST_REDIS", "redis://127.0.0.1:6379/0")
STORAGE = Path(tempfile.mkdtemp(prefix=f"pagemill-test-{RUN_ID}-"))

# Settings are read once per process: point this process at the run's own places first.
os.environ["PAGEMILL_STORAGE_DIR"] = str(STORAGE)
os.environ["PAGEMILL_REDIS_PREFIX"] = f"pagemill-test-{RUN_ID}"
os.environ["PAGEMILL_ALLOWED_HOSTS"] = '["test", "t", "testserver", "localhost", "127.0.0.1"]'
os.environ.pop("PAGEMILL_REDIS_URL", None)
os.environ.pop("PAGEMILL_DATABASE_URL", None)
os.environ.update(WEBHOOK_TEST_ENV)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Accept pytest-rerunfailures' options from addopts when the plugin is turned off with
    `-p no:rerunfailures`, so that the suite can run without reruns (they do nothing then)."""
    if pluginmanager.is_blocked("rerunfailures"):
        group = parser.getgroup("rerunfailures")
        group.addoption("--reruns", type=int, default=0, help="ignored: no pytest-rerunfailures")
        group.addoption("--reruns-delay", type=float, default=0, help="ignored likewise")


def _pg_base() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0]


@pytest.fixture(scope="session")
def storage_dir() -> Iterator[Path]:
    """The run's storage root (removed at the end of the run)."""
    yield STORAGE
    shutil.rmtree(STORAGE, ignore_errors=True)


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"pagemill_test_{RUN_ID}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield f"{_pg_base()}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def db(pg_url: str) -> AsyncIterator[str]:
    """Tortoise initialised on the run's PostgreSQL database with the schema created."""
    from tortoise import Tortoise

    from models.db import close_db, init_db

    await init_db(pg_url)
    await Tortoise.generate_schemas()
    yield pg_url
    await close_db()


@pytest.fixture(scope="session")
async def redis_url() -> AsyncIterator[str]:
    """The Redis URL for this run; every key under the run's prefix is deleted afterwards."""
    import redis.asyncio as aioredis

    yield REDIS_TEST_URL
    client = aioredis.from_url(REDIS_TEST_URL)
    prefix = os.environ["PAGEMILL_REDIS_PREFIX"]
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture(scope="session", autouse=True)
async def conversion_children() -> AsyncIterator[None]:
    """Warm conversion children started by in-process tests are stopped with the run."""
    yield
    from tasks.sandbox.pool import close_pool

    await close_pool()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on loopback for this run; test credentials in the environment."""
    os.environ.update(s3server.CREDENTIALS)
    server = s3server.start(STORAGE / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """This run's bucket, emptied and removed afterwards."""
    bucket = f"pagemill-test-{RUN_ID}".replace("_", "-").lower()
    s3server.create_bucket(s3_server.endpoint, bucket)
    yield bucket
    s3server.remove_bucket(s3_server.endpoint, bucket)
