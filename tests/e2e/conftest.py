"""Fixtures that start real pagemill processes against the real PostgreSQL and Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from settings import Settings
from tasks.runtime.supervisor import in_flight
from tasks.sandbox.slots import slot_count
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL, RUN_ID, WEBHOOK_TEST_ENV
from tests.e2e.harness import Cluster, cluster_env, private_redis


def _base_env(storage: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(
        PAGEMILL_STORAGE_DIR=str(storage),
        PAGEMILL_LOG_LEVEL="INFO",
        PAGEMILL_LEASE_SECONDS="5",
        PAGEMILL_SWEEP_INTERVAL="1",
    )
    # A first retry late enough for a test to stop every worker between two attempts.
    env.update(WEBHOOK_TEST_ENV, PAGEMILL_WEBHOOK_RETRY_SCHEDULE="[3.0, 1.0]")
    env["PAGEMILL_WEBHOOK_POLL_INTERVAL"] = "0.5"
    env.update(extra)
    return env


@asynccontextmanager
async def _database(name: str) -> AsyncIterator[str]:
    """A PostgreSQL database of its own, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def e2e_pg_url() -> AsyncIterator[str]:
    """A PostgreSQL database of its own for the distributed cluster, dropped afterwards."""
    async with _database(f"pagemill_e2e_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="session")
def distributed(
    e2e_pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """API + two `pagemill worker` processes in Redis/PostgreSQL mode, migrated with
    `pagemill migrate`; PDFs of more than 8 pages are converted as ranges of 8."""
    root = tmp_path_factory.mktemp("distributed")
    ranges = {"PAGEMILL_RANGE_PAGES": "8", "PAGEMILL_RANGE_THRESHOLD": "8"}
    with _redis_cluster(root, REDIS_TEST_URL, e2e_pg_url, "e2e", workers=2, **ranges) as cluster:
        yield cluster


@pytest.fixture(scope="session")
async def office_pg_url() -> AsyncIterator[str]:
    """The office cluster's own database."""
    async with _database(f"pagemill_office_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="session")
def office_cluster(
    office_pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """API + two `pagemill worker` processes; pages at 50 dpi, so that LibreOffice and the
    pipeline around it, not page rendering, are what the batch exercises."""
    root = tmp_path_factory.mktemp("office")
    with _redis_cluster(
        root, REDIS_TEST_URL, office_pg_url, "office", workers=2, PAGEMILL_MAX_DENSITY="50"
    ) as cluster:
        yield cluster


def _prefix(name: str) -> str:
    return f"{os.environ['PAGEMILL_REDIS_PREFIX']}-{name}-{secrets.token_hex(3)}"


@contextmanager
def _redis_cluster(
    root: Path, redis_url: str, pg_url: str, name: str, workers: int, **extra: str
) -> Iterator[Cluster]:
    """API and `workers` worker processes on Redis and a database of their own, migrated
    with `pagemill migrate` first; `extra` settings override the test defaults."""
    env = _base_env(
        root / "storage",
        PAGEMILL_REDIS_URL=redis_url,
        PAGEMILL_DATABASE_URL=pg_url,
        PAGEMILL_REDIS_PREFIX=_prefix(name),
        **extra,
    )
    with cluster_env(env, root) as cluster:
        cluster.run("migrate")
        cluster.start_api()
        for _ in range(workers):
            cluster.start_worker()
        yield cluster


@pytest.fixture(scope="module")
async def faults_pg_url() -> AsyncIterator[str]:
    """The fault-injection cluster's own database."""
    async with _database(f"pagemill_faults_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="module")
def faults(faults_pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """API + two workers on a private redis-server (which tests may kill and restart) and a
    database of their own, so faults never reach the shared `distributed` cluster."""
    root = tmp_path_factory.mktemp("faults")
    lease = os.environ.get("PAGEMILL_FAULTS_LEASE_SECONDS", "5")
    sweep = os.environ.get("PAGEMILL_FAULTS_SWEEP_INTERVAL", "1")
    with (
        private_redis(root) as redis,
        _redis_cluster(
            root,
            redis.url,
            faults_pg_url,
            "faults",
            workers=2,
            PAGEMILL_LEASE_SECONDS=lease,
            PAGEMILL_SWEEP_INTERVAL=sweep,
        ) as cluster,
    ):
        cluster.redis = redis
        yield cluster


@pytest.fixture(scope="module")
async def limited_pg_url() -> AsyncIterator[str]:
    """The resource-limited cluster's own database."""
    async with _database(f"pagemill_limited_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="module")
def limited(
    limited_pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """API + one worker with a low memory cap, no disk spill, a short per-document timeout
    and two attempts per document."""
    root = tmp_path_factory.mktemp("limited")
    with _redis_cluster(
        root,
        REDIS_TEST_URL,
        limited_pg_url,
        "limited",
        workers=1,
        # libvips maps ~190 MB of address space (its ~100 libraries) before any pixel.
        PAGEMILL_MEMORY_LIMIT_MB="256",
        # Past its memory limit ImageMagick spills to disk instead of failing: keep that small.
        PAGEMILL_MAGICK_DISK_MB="64",
        PAGEMILL_DOCUMENT_TIMEOUT="4",
        PAGEMILL_MAX_ATTEMPTS="2",
        PAGEMILL_RANGE_PAGES="0",  # one task per document: the timeout covers it whole
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def draining_pg_url() -> AsyncIterator[str]:
    """The draining cluster's own database."""
    async with _database(f"pagemill_draining_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="module")
def draining(
    draining_pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """An API whose workers (started by each test, so no other worker competes for the
    documents) drain for 20 s on SIGTERM and replace each process after 2 messages."""
    root = tmp_path_factory.mktemp("draining")
    with _redis_cluster(
        root,
        REDIS_TEST_URL,
        draining_pg_url,
        "draining",
        workers=0,
        PAGEMILL_DRAIN_SECONDS="20",
        PAGEMILL_RECYCLE_AFTER="2",
    ) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`pagemill serve` on the embedded default: SQLite under the storage dir, no Redis."""
    root = tmp_path_factory.mktemp("embedded")
    with cluster_env(_base_env(root / "storage"), root) as cluster:
        cluster.start_api()
        yield cluster


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real inputs: a 3-page mixed-size PDF, an RGBA PNG and a large JPEG."""
    root = tmp_path_factory.mktemp("samples")
    pages = []
    for size, colour in (((612, 792), "white"), ((842, 595), "lightblue"), ((300, 300), "pink")):
        page = Image.new("RGB", size, colour)
        ImageDraw.Draw(page).rectangle((20, 20, size[0] - 20, size[1] // 2), outline="black")
        pages.append(page)
    pdf = root / "mixed.pdf"
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=72.0)
    png = root / "alpha.png"
    Image.new("RGBA", (800, 600), (255, 0, 0, 128)).save(png)
    jpeg = root / "big.jpg"
    Image.new("RGB", (5000, 3000), (10, 120, 40)).save(jpeg, quality=80)
    return {"pdf": pdf, "png": png, "jpeg": jpeg}


def many_page_pdf(path: Path, pages: int, size: tuple[int, int] = (612, 792)) -> Path:
    """A PDF of `pages` Letter pages with some drawing on each, written with Pillow; each call
    draws its own colours, so dedupe never links two calls' files (tests that want a
    duplicate upload one file twice)."""
    salt = secrets.randbelow(256)
    images = []
    for n in range(pages):
        page = Image.new("RGB", size, "white")
        draw = ImageDraw.Draw(page)
        for i in range(0, size[1], 12):
            draw.line((0, i, size[0], (i * 7 + n) % size[1]), fill=(i % 255, n * 9 % 255, salt))
        images.append(page)
    images[0].save(path, save_all=True, append_images=images[1:], resolution=72.0)
    return path


def taken_at_once(workers: int) -> int:
    """Documents that many stock `pagemill worker` (one process each) hold at once on this
    host: a batch needs more for some of its documents to be seen still PENDING."""
    settings = Settings(worker_children=0, worker_concurrency=0)
    return workers * in_flight(settings, slot_count(settings))
