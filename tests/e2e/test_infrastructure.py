"""Infrastructure that fails, on real processes: PostgreSQL down for 20 s mid-batch, a full
storage volume, and a worker stopped past its lease. The cluster has a PostgreSQL and a
small filesystem (tmpfs) of its own: the shared server and disk are never touched."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from client.graphql import multipart_form
from tests.conftest import REDIS_TEST_URL
from tests.e2e.client import CREATE, PREFLIGHT, create_upload, execute, get_upload, wait_terminal
from tests.e2e.conftest import _redis_cluster, many_page_pdf, taken_at_once
from tests.e2e.harness import Cluster
from tests.e2e.outages import PostgresServer, fill, private_postgres, small_filesystem
from tests.e2e.test_faults import (
    assert_pages_once,
    conversion_processes,
    document_row,
    pages_of,
    rows,
    small_images,
    wait_ready,
    which_worker,
    worker_pids,
)
from tests.waiting import eventually

logger = logging.getLogger(__name__)

OUTAGE_SECONDS = 20.0
MiB = 1024 * 1024
HALF_LETTER = (306, 396)
RETRY = "mutation($id: ID!) { retryDocument(id: $id) { id status } }"


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """API + two workers on a PostgreSQL of their own (which tests stop and start) with their
    storage on a 512 MiB tmpfs (which a test fills; the others remove their files)."""
    root = tmp_path_factory.mktemp("infra")
    with private_postgres(root) as pg, small_filesystem(512) as volume:
        pg.create_database("pagemill")
        with _redis_cluster(
            root,
            REDIS_TEST_URL,
            pg.url("pagemill"),
            "infra",
            workers=2,
            PAGEMILL_STORAGE_DIR=str(volume / "storage"),
            PAGEMILL_STORAGE_MIN_FREE_MB="16",
            PAGEMILL_RANGE_PAGES="0",  # one task holds a document whole: its lease is the test's
        ) as cluster:
            cluster.postgres = pg  # type: ignore[attr-defined]
            yield cluster


def postgres_of(cluster: Cluster) -> PostgresServer:
    server: PostgresServer = cluster.postgres  # type: ignore[attr-defined]
    return server


def storage_of(cluster: Cluster) -> Path:
    return Path(cluster.env["PAGEMILL_STORAGE_DIR"])


async def forget(cluster: Cluster, upload_id: str) -> None:
    """Remove an upload's files once its archive is written (a task queued when the upload
    ended), so that the small volume holds the next test's and nothing lands there later."""

    async def archived() -> bool:
        upload = await get_upload(cluster.graphql_url, upload_id)
        return upload is not None and bool(upload["archiveUrl"])

    await eventually(archived, 60, f"the archive of upload {upload_id}", cluster)
    shutil.rmtree(storage_of(cluster) / "uploads" / upload_id, ignore_errors=True)


def leftovers(cluster: Cluster) -> dict[str, list[str]]:
    """Upload folders and spooled files in storage (what a refused upload must not add)."""
    storage = storage_of(cluster)
    uploads = sorted(p.name for p in (storage / "uploads").glob("*"))
    spooled = sorted(p.name for p in (storage / "tmp").glob("*"))
    return {"uploads": uploads, "tmp": spooled}


async def post_graphql_upload(cluster: Cluster, name: str, content: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            cluster.graphql_url,
            data=multipart_form(CREATE, 1, None),
            files=[("0", (name, content))],
            headers=PREFLIGHT,
        )


async def post_job(cluster: Cluster, name: str, content: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            f"{cluster.url}/api/v1/jobs", files=[("files", (name, content))], headers=PREFLIGHT
        )


def error_code(response: httpx.Response) -> str:
    body = response.json()
    if "errors" in body:
        return str(body["errors"][0]["extensions"]["code"])
    return str(body["code"])


# PostgreSQL down for 20 s mid-batch ---------------------------------------------------


async def test_postgres_down_mid_batch_answers_503_keeps_nothing_and_resumes_at_once(
    infra: Cluster, tmp_path: Path
) -> None:
    await wait_ready(infra)
    # A small image first, done at once; then more PDFs than the workers take at once, of a
    # second or more each, so that some wait queued.
    count = 3 + taken_at_once(len(infra.workers))
    pdfs = [many_page_pdf(tmp_path / f"outage-{n}.pdf", 12) for n in range(count)]
    upload = await create_upload(infra.graphql_url, [*small_images(tmp_path, 1), *pdfs])

    async def mid_batch() -> bool:
        found = await rows(
            infra,
            "SELECT count(*) FILTER (WHERE status = 'COMPLETED') AS done,"
            " count(*) FILTER (WHERE status = 'PENDING') AS pending"
            " FROM document WHERE upload_id = $1",
            upload["id"],
        )
        return bool(found[0]["done"] >= 1 and found[0]["pending"] >= 2)

    await eventually(mid_batch, 120, "the batch under way", infra)
    pg = postgres_of(infra)
    pg.stop("immediate")
    stopped = time.monotonic()

    before = leftovers(infra)
    image = small_images(tmp_path, 1)[0].read_bytes()
    refused = await post_graphql_upload(infra, "during.png", image)
    assert (refused.status_code, error_code(refused)) == (503, "SERVICE_UNAVAILABLE"), refused.text
    assert refused.headers["retry-after"]
    async with httpx.AsyncClient(timeout=60) as http:
        query = await http.post(
            infra.graphql_url,
            json={"query": "query($id: ID!) { upload(id: $id) { status } }",
                  "variables": {"id": upload["id"]}},
        )  # fmt: skip
        job = await http.get(f"{infra.url}/api/v1/jobs/{upload['id']}")
        ready = await http.get(f"{infra.url}/readyz")
    assert (query.status_code, error_code(query)) == (503, "SERVICE_UNAVAILABLE"), query.text
    assert (job.status_code, error_code(job)) == (503, "SERVICE_UNAVAILABLE"), job.text
    assert job.headers["content-type"].startswith("application/problem+json")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"
    rest_refused = await post_job(infra, "during.png", image)
    assert (rest_refused.status_code, error_code(rest_refused)) == (503, "SERVICE_UNAVAILABLE")
    assert leftovers(infra) == before  # no file without a row

    # The outage lasts OUTAGE_SECONDS by design, however long the checks above took.
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    pg.start()
    restarted = datetime.now(UTC)
    back = time.monotonic()

    async def converting_again() -> datetime | None:
        found = await rows(
            infra,
            "SELECT min(p.created_at) AS first FROM page p JOIN document d ON d.id = p.document_id"
            " WHERE d.upload_id = $1 AND p.created_at > $2",
            upload["id"],
            restarted,
        )
        first: datetime | None = found[0]["first"]
        return first

    first_page = await eventually(converting_again, 60, "a page recorded after the outage", infra)
    recovery = (first_page - restarted).total_seconds()
    final = await wait_terminal(infra.graphql_url, upload["id"], timeout=180)
    logger.warning(
        "PostgreSQL down %.0f s: first page recorded %.1f s after it came back; batch done "
        "%.1f s after",
        OUTAGE_SECONDS,
        recovery,
        time.monotonic() - back,
    )
    print(f"\noutage recovery: first page {recovery:.1f}s after PostgreSQL came back")

    assert final["status"] == "COMPLETED"
    assert {d["status"] for d in final["documents"]} == {"COMPLETED"}
    await assert_pages_once(infra, final)
    # Sooner than the sweeper's grace period (60 s) for documents queued before the outage.
    assert recovery < 20, recovery
    again = await create_upload(infra.graphql_url, small_images(tmp_path, 1))
    assert (await wait_terminal(infra.graphql_url, again["id"], 60))["status"] == "COMPLETED"
    await forget(infra, upload["id"])
    await forget(infra, again["id"])


# A worker stopped past its lease ------------------------------------------------------


async def test_a_worker_stopped_past_its_lease_kills_its_child_and_writes_nothing(
    infra: Cluster, tmp_path: Path
) -> None:
    await wait_ready(infra)
    # Long enough (at about 0.1 s a page) to be still under way when the worker is stopped,
    # after its lease has passed, and after another worker has taken it over.
    pdf = many_page_pdf(tmp_path / "eighty.pdf", 80)
    upload = await create_upload(infra.graphql_url, [pdf])
    doc_id = upload["documents"][0]["id"]

    async def converting() -> dict[str, Any] | None:
        doc = await document_row(infra, doc_id)
        done = len(await pages_of(infra, doc_id))
        return doc if doc["status"] == "IN_PROGRESS" and done >= 3 else None

    doc = await eventually(converting, 90, "the PDF converting", infra)
    holder = int(doc["lease_owner"].split(":")[1])
    victim = which_worker(infra, doc["lease_owner"])
    child = await eventually(
        lambda: rendering_child(infra, holder), 30, "the holder's child rendering", infra
    )
    scratch = Path(child.environ()["TMPDIR"])
    os.kill(holder, signal.SIGSTOP)
    try:
        # The child renders at most the page under way, then waits for its worker.
        await eventually(lambda: idle(child), 30, "the stopped worker's child to wait", infra)
        cpu = cpu_seconds(child)

        async def taken_over() -> bool:
            row = await document_row(infra, doc_id)
            return bool(row["lease_owner"] and int(row["lease_owner"].split(":")[1]) != holder)

        await eventually(taken_over, 30, "another worker to take the document over", infra)
        recorded = len(await pages_of(infra, doc_id))

        async def recording() -> bool:
            return len(await pages_of(infra, doc_id)) > recorded

        await eventually(recording, 60, "the new owner to record pages", infra)
        assert cpu_seconds(child) - cpu < 0.1, "the stopped worker's child went on"
    finally:
        os.kill(holder, signal.SIGCONT)

    def gone() -> bool:
        return not child.is_running() or child.status() == psutil.STATUS_ZOMBIE

    await eventually(gone, 30, "the old child killed", infra)
    final = await wait_terminal(infra.graphql_url, upload["id"], timeout=180)

    assert final["status"] == "COMPLETED", final["documents"][0]["errorMessage"]
    await assert_pages_once(infra, final)
    row = await document_row(infra, doc_id)
    assert (row["attempts"], row["page_count"]) == (2, 80)
    document_dir = storage_of(infra) / "uploads" / upload["id"] / doc_id
    assert not list(document_dir.glob(".attempt-*"))
    assert not list((document_dir / "pages").glob("*.tmp"))
    recorded_sizes = await rows(
        infra, "SELECT path, size_bytes FROM page WHERE document_id = $1", doc_id
    )
    for page in recorded_sizes:
        assert (storage_of(infra) / page["path"]).stat().st_size == page["size_bytes"]
    assert not scratch.exists()  # the killed child's temporary folder
    assert victim.poll() is None and holder in worker_pids(infra, victim)
    assert recorded >= 3
    await forget(infra, upload["id"])


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time the process has spent so far; -1 once it is gone."""
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return -1.0
    return float(times.user + times.system)


async def rendering_child(cluster: Cluster, worker_pid: int) -> psutil.Process | None:
    """The one conversion child of a worker process that spends CPU (the others, if any,
    wait warm for a job)."""
    children = []
    for proc in conversion_processes(cluster):
        try:
            if proc.ppid() == worker_pid:
                children.append(proc)
        except psutil.Error:
            continue
    before = {proc.pid: cpu_seconds(proc) for proc in children}
    await asyncio.sleep(0.25)  # a sampling interval, not a wait for something
    busy = [proc for proc in children if cpu_seconds(proc) > before[proc.pid] >= 0]
    return busy[0] if len(busy) == 1 else None


async def idle(proc: psutil.Process) -> bool:
    """True when the process spends no CPU for half a second."""
    before = cpu_seconds(proc)
    await asyncio.sleep(0.5)  # a sampling interval, not a wait for something
    return cpu_seconds(proc) - before < 0.02


# A full storage volume ----------------------------------------------------------------


async def test_a_full_disk_is_typed_on_upload_and_in_conversion_and_not_ready(
    infra: Cluster, tmp_path: Path
) -> None:
    await wait_ready(infra)
    storage = storage_of(infra)
    # Small in bytes (1.2 MB) for its pages (about 0.36 MB each at 300 dpi): the upload fits
    # in what the ballast leaves, and so do some of its pages, not all.
    pdf = many_page_pdf(tmp_path / "thirty.pdf", 30, size=HALF_LETTER)
    ballast = fill(storage, leave_bytes=6 * MiB)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            ready = await http.get(f"{infra.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["storage_space"].startswith("low:")

        before = leftovers(infra)
        big = os.urandom(8 * MiB)
        refused = await post_graphql_upload(infra, "big.png", b"\x89PNG\r\n\x1a\n" + big)
        assert (refused.status_code, error_code(refused)) == (507, "STORAGE_FULL"), refused.text
        rest_refused = await post_job(infra, "big.png", b"\x89PNG\r\n\x1a\n" + big)
        assert (rest_refused.status_code, error_code(rest_refused)) == (507, "STORAGE_FULL")
        assert leftovers(infra) == before

        upload = await create_upload(infra.graphql_url, [pdf])
        final = await wait_terminal(infra.graphql_url, upload["id"], timeout=120)
        [doc] = final["documents"]
        assert (doc["status"], doc["errorCode"]) == ("FAILED", "STORAGE_FULL")
        row = await document_row(infra, doc["id"])
        assert row["attempts"] == 1  # never retried on a full volume
        document_dir = storage / "uploads" / upload["id"] / doc["id"]
        assert not list(document_dir.glob(".attempt-*"))
        assert not list(document_dir.rglob("*.tmp"))
        assert 0 < len(doc["pages"]) < 30
    finally:
        ballast.unlink()
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(f"{infra.url}/readyz")).status_code == 200
    await execute(infra.graphql_url, RETRY, {"id": doc["id"]})
    again = await wait_terminal(infra.graphql_url, upload["id"], timeout=120)
    assert again["status"] == "COMPLETED" and again["documents"][0]["pageCount"] == 30
    assert all(w.poll() is None for w in infra.workers)
    await get_upload(infra.graphql_url, upload["id"])
