"""Fault injection on real processes: workers killed, conversions out of memory or out of
time, duplicate deliveries, Redis and API restarts, pause and drain. Each fault runs on a
cluster of its own (`faults`, `limited`), never on the shared `distributed` one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import signal
import struct
import subprocess
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psutil
import redis.asyncio as aioredis
import websockets
from PIL import Image

from tests.e2e.client import EVENTS, create_upload, execute, get_upload, wait_terminal
from tests.e2e.conftest import many_page_pdf, taken_at_once
from tests.e2e.harness import BIN, PROJECT, Cluster, kill_worker, restart_api
from tests.fixtures.make import adam7_passes
from tests.waiting import eventually

logger = logging.getLogger(__name__)

PROCESSING = "{ paused pendingDocuments inProgressDocuments activeWorkers }"
WORKERS = "{ workers { id host pid heartbeatAt currentDocument conversionsDone rssBytes } }"


# Helpers ---------------------------------------------------------------------------------


async def rows(cluster: Cluster, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Run one query on the cluster's own database."""
    conn = await asyncpg.connect(cluster.env["PAGEMILL_DATABASE_URL"])
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def pages_of(cluster: Cluster, document_id: str) -> list[dict[str, Any]]:
    """Page rows of a document, in the order they were recorded."""
    return await rows(
        cluster,
        "SELECT id, number, path, created_at FROM page WHERE document_id = $1 ORDER BY created_at",
        document_id,
    )


async def document_row(cluster: Cluster, document_id: str) -> dict[str, Any]:
    """The document's row as the workers left it."""
    found = await rows(cluster, "SELECT * FROM document WHERE id = $1", document_id)
    return found[0]


async def assert_pages_once(cluster: Cluster, upload: dict[str, Any]) -> None:
    """Every page of every document recorded exactly once, numbered 1..n, on disk, with one
    PAGE_DONE event each."""
    storage = Path(cluster.env["PAGEMILL_STORAGE_DIR"])
    for doc in upload["documents"]:
        pages = await pages_of(cluster, doc["id"])
        numbers = sorted(p["number"] for p in pages)
        assert numbers == list(range(1, doc["pageCount"] + 1)), (doc["filename"], numbers)
        for page in pages:
            assert (storage / page["path"]).read_bytes().startswith(b"\x89PNG")
    events = await rows(
        cluster,
        "SELECT payload FROM event WHERE upload_id = $1 AND kind = 'PAGE_DONE'",
        upload["id"],
    )
    announced = [
        (p["document_id"], p["page"]["number"]) for p in (json.loads(e["payload"]) for e in events)
    ]
    assert len(announced) == len(set(announced)) == upload["pageCount"]


def worker_pids(cluster: Cluster, proc: subprocess.Popen[bytes]) -> set[int]:
    """Pids of the supervisor and taskiq processes of one `pagemill worker` (not of the
    conversion children they start)."""
    root = psutil.Process(proc.pid)
    return {root.pid} | {p.pid for p in root.children()}


async def wait_ready(cluster: Cluster) -> None:
    """Wait until every `pagemill worker` of the cluster has a taskiq process heartbeating."""

    async def ready() -> bool:
        beating = {r["pid"] for r in await rows(cluster, "SELECT pid FROM worker")}
        return all(len(worker_pids(cluster, w) & beating) == 1 for w in cluster.workers)

    await eventually(ready, 60, "workers to send heartbeats", cluster)


def conversion_processes(cluster: Cluster) -> list[psutil.Process]:
    """Conversion children and Ghostscripts working on this cluster's files, anywhere."""
    storage = cluster.env["PAGEMILL_STORAGE_DIR"]
    found = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if "tasks.sandbox.child" in cmdline:
                if proc.environ().get("PAGEMILL_STORAGE_DIR") == storage:
                    found.append(proc)
            elif proc.info["name"] == "gs" and storage in cmdline:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _parent(proc: psutil.Process) -> int | None:
    try:
        return proc.ppid()
    except psutil.Error:
        return None


def which_worker(cluster: Cluster, lease_owner: str) -> subprocess.Popen[bytes]:
    """The `pagemill worker` whose process holds a lease (owner is host:pid:...)."""
    pid = int(lease_owner.split(":")[1])
    for proc in cluster.workers:
        if proc.poll() is None and pid in worker_pids(cluster, proc):
            return proc
    raise AssertionError(f"no worker runs pid {pid}")


def small_images(root: Path, count: int) -> list[Path]:
    """Small distinct PNGs (distinct bytes, and new ones each call: dedupe must not merge them
    with each other or with another test's)."""
    salt = secrets.randbelow(256)
    paths = []
    for n in range(count):
        path = root / f"small-{n:02d}.png"
        Image.new("RGB", (320 + n, 240), (n * 12 % 256, salt, 160)).save(path)
        paths.append(path)
    return paths


def big_canvas_png(path: Path, width: int, height: int) -> Path:
    """A valid Adam7-interlaced PNG of one colour declaring a large canvas: tiny on disk, and
    decoded whole even by a streaming decoder (the last pass holds every other row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    compressor = zlib.compressobj(1)
    rows_ = b"".join(
        compressor.compress(b"\x00" * (-(-(width - x0) // dx) * 3 + 1))
        for x0, y0, dx, dy in adam7_passes(width, height)
        for _ in range(y0, height, dy)
    )
    data = rows_ + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    signature = b"\x89PNG\r\n\x1a\n"
    path.write_bytes(
        signature + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


async def processing(cluster: Cluster, mutation: str) -> dict[str, Any]:
    """Run pauseProcessing or resumeProcessing and return the ProcessingState."""
    data = await execute(cluster.graphql_url, f"mutation {{ {mutation} {PROCESSING} }}")
    return dict(data[mutation])


def admin(cluster: Cluster, *args: str, timeout: float = 120) -> str:
    """Run `pagemill admin ...` against the cluster's API; its output."""
    env = {**cluster.env, "PAGEMILL_URL": cluster.graphql_url, "COLUMNS": "250"}
    done = subprocess.run(
        [str(BIN / "pagemill"), "admin", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return done.stdout


# 1. SIGKILL mid-document ----------------------------------------------------------------


async def test_sigkilled_worker_loses_nothing_and_the_pdf_resumes(
    faults: Cluster, tmp_path: Path
) -> None:
    await wait_ready(faults)
    pdf = many_page_pdf(tmp_path / "thirty.pdf", 30)
    upload = await create_upload(faults.graphql_url, [pdf, *small_images(tmp_path, 19)])
    pdf_id = upload["documents"][0]["id"]

    async def running_with_pages() -> dict[str, Any] | None:
        doc = await document_row(faults, pdf_id)
        done = len(await pages_of(faults, pdf_id))
        return doc if doc["status"] == "IN_PROGRESS" and 5 <= done <= 20 else None

    doc = await eventually(running_with_pages, 90, "the PDF half converted", faults)
    victim = which_worker(faults, doc["lease_owner"])
    victims = worker_pids(faults, victim)
    children = [p for p in conversion_processes(faults) if _parent(p) in victims]
    killed_at = datetime.now(UTC)
    kill_worker(victim)
    faults.workers.remove(victim)
    before = await pages_of(faults, pdf_id)
    faults.start_worker()  # back to two workers for the tests that follow

    # The conversion child ran in a session of its own: it must not outlive its worker.
    await eventually(
        lambda: not any(p.is_running() for p in children),
        10,
        "the killed worker's conversion child to exit",
        faults,
    )
    final = await wait_terminal(faults.graphql_url, upload["id"], timeout=120)

    assert final["status"] == "COMPLETED"
    assert {d["status"] for d in final["documents"]} == {"COMPLETED"}
    assert final["documents"][0]["pageCount"] == 30
    await assert_pages_once(faults, final)
    after = await pages_of(faults, pdf_id)
    kept = {p["number"]: (p["id"], p["created_at"]) for p in before}
    assert {p["number"]: (p["id"], p["created_at"]) for p in after if p["number"] in kept} == kept
    resumed = [p for p in after if p["number"] not in kept]
    assert [p["number"] for p in resumed] == list(range(max(kept) + 1, 31))
    assert all(p["created_at"] > killed_at for p in resumed)
    recovery = (resumed[0]["created_at"] - killed_at).total_seconds()
    logger.warning(
        "SIGKILL at page %d of 30: next page recorded %.1fs later (lease %ss, sweep %ss)",
        max(kept),
        recovery,
        faults.env["PAGEMILL_LEASE_SECONDS"],
        faults.env["PAGEMILL_SWEEP_INTERVAL"],
    )
    print(f"\nrecovery after SIGKILL: {recovery:.1f}s (resumed at page {max(kept) + 1})")


# 2. Memory cap ---------------------------------------------------------------------------


async def test_oversized_canvas_fails_resource_limit_and_the_worker_goes_on(
    limited: Cluster, tmp_path: Path
) -> None:
    # 8000x8000 is within the pixel limit; interlaced, it is decoded whole (192 MB for
    # libvips, a 512 MB pixel cache for ImageMagick), which fits neither the 256 MB address
    # space nor the 64 MB disk budget.
    canvas = big_canvas_png(tmp_path / "canvas.png", 8000, 8000)
    [worker] = limited.workers
    await wait_ready(limited)
    pids = worker_pids(limited, worker)
    upload = await create_upload(limited.graphql_url, [canvas])
    final = await wait_terminal(limited.graphql_url, upload["id"], timeout=90)

    [doc] = final["documents"]
    assert (final["status"], doc["status"], doc["errorCode"]) == (
        "FAILED",
        "FAILED",
        "RESOURCE_LIMIT",
    )
    assert (await document_row(limited, doc["id"]))["attempts"] == 2
    normal = await create_upload(limited.graphql_url, small_images(tmp_path, 1))
    done = await wait_terminal(limited.graphql_url, normal["id"], timeout=60)
    assert done["status"] == "COMPLETED"
    assert worker.poll() is None and worker_pids(limited, worker) == pids


# 3. Timeout ------------------------------------------------------------------------------


async def test_timeout_kills_the_conversion_and_the_worker_goes_on(
    limited: Cluster, tmp_path: Path
) -> None:
    [worker] = limited.workers
    await wait_ready(limited)
    pids = worker_pids(limited, worker)
    # 400 pages in one task (this cluster renders no page ranges) take far longer than the
    # 4 s document timeout, even at PDFium's 30-40 pages a second: the child is mid-document.
    slow = many_page_pdf(tmp_path / "slow.pdf", 400)
    upload = await create_upload(limited.graphql_url, [slow])
    doc_id = upload["documents"][0]["id"]

    async def rendering() -> bool:
        return bool(conversion_processes(limited)) and len(await pages_of(limited, doc_id)) >= 1

    await eventually(rendering, 30, "the conversion rendering pages", limited)
    final = await wait_terminal(limited.graphql_url, upload["id"], timeout=60)

    [doc] = final["documents"]
    assert (doc["status"], doc["errorCode"]) == ("FAILED", "TIMEOUT")
    assert 0 < len(doc["pages"]) < 400  # pages done before the deadline are kept
    assert conversion_processes(limited) == []
    normal = await create_upload(limited.graphql_url, small_images(tmp_path, 1))
    assert (await wait_terminal(limited.graphql_url, normal["id"], timeout=60))[
        "status"
    ] == "COMPLETED"
    assert worker.poll() is None and worker_pids(limited, worker) == pids


# 4. Duplicate delivery -------------------------------------------------------------------


async def test_duplicate_delivery_while_running_renders_nothing_twice(
    faults: Cluster, tmp_path: Path
) -> None:
    # 30 pages (below the page-range threshold) take seconds: the duplicates arrive while
    # the first delivery still converts.
    pdf = many_page_pdf(tmp_path / "thirty.pdf", 30)
    upload = await create_upload(faults.graphql_url, [pdf])
    doc_id = upload["documents"][0]["id"]

    async def started() -> bool:
        doc = await document_row(faults, doc_id)
        return doc["status"] == "IN_PROGRESS" and len(await pages_of(faults, doc_id)) >= 1

    await eventually(started, 60, "the PDF to be converting", faults)
    owner = (await document_row(faults, doc_id))["lease_owner"]
    assert faults.redis is not None
    client = aioredis.from_url(faults.redis.url)
    stream = f"{faults.env['PAGEMILL_REDIS_PREFIX']}:tasks"
    try:
        messages: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(stream)  # type: ignore[assignment]
        [data] = [f[b"data"] for _, f in messages if doc_id.encode() in f[b"data"]]
        for _ in range(3):
            await client.xadd(stream, {b"data": data})
    finally:
        await client.aclose()
    final = await wait_terminal(faults.graphql_url, upload["id"], timeout=90)

    assert final["status"] == "COMPLETED"
    await assert_pages_once(faults, final)
    doc = await document_row(faults, doc_id)
    assert doc["attempts"] == 1  # no duplicate took the lease
    started_events = await rows(
        faults,
        "SELECT sequence FROM event WHERE upload_id = $1 AND kind = 'DOCUMENT_STARTED'",
        upload["id"],
    )
    assert len(started_events) == 1
    assert owner is not None


# 5. Redis and API restarts ---------------------------------------------------------------


async def test_redis_restart_mid_batch_loses_nothing(faults: Cluster, tmp_path: Path) -> None:
    assert faults.redis is not None
    # Small images first, done at once; then more PDFs than the workers take at once, each
    # long enough (a second or more, below the page-range threshold) that some wait queued.
    count = 3 + taken_at_once(len(faults.workers))
    pdfs = [many_page_pdf(tmp_path / f"batch-{n}.pdf", 24) for n in range(count)]
    upload = await create_upload(faults.graphql_url, [*small_images(tmp_path, 2), *pdfs])

    async def mid_batch() -> bool:
        found = await rows(
            faults,
            "SELECT count(*) FILTER (WHERE status = 'COMPLETED') AS done,"
            " count(*) FILTER (WHERE status = 'PENDING') AS pending"
            " FROM document WHERE upload_id = $1",
            upload["id"],
        )
        return bool(found[0]["done"] >= 1 and found[0]["pending"] >= 2)

    await eventually(mid_batch, 60, "the batch half done", faults)
    faults.redis.kill()
    faults.redis.start()
    final = await wait_terminal(faults.graphql_url, upload["id"], timeout=120)

    assert final["status"] == "COMPLETED"
    assert {d["status"] for d in final["documents"]} == {"COMPLETED"}
    await assert_pages_once(faults, final)
    assert all(w.poll() is None for w in faults.workers)
    # The API reconnects too: a new upload goes through.
    again = await create_upload(faults.graphql_url, small_images(tmp_path, 1))
    assert (await wait_terminal(faults.graphql_url, again["id"], timeout=60))[
        "status"
    ] == "COMPLETED"


async def _listen(ws_url: str, upload_id: str, after: int, sink: list[dict[str, Any]]) -> bool:
    """Append events to `sink` until the server completes (True) or the connection drops."""
    try:
        async with websockets.connect(
            ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            payload = {"query": EVENTS, "variables": {"id": upload_id, "after": after}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "next":
                    assert not message["payload"].get("errors"), message
                    sink.append(message["payload"]["data"]["uploadEvents"])
                elif message["type"] == "complete":
                    return True
                elif message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
    except (websockets.ConnectionClosed, OSError):
        return False
    return False


async def test_api_restart_during_a_subscription_misses_nothing(
    faults: Cluster, tmp_path: Path
) -> None:
    pdf = many_page_pdf(tmp_path / "twelve.pdf", 12)
    upload = await create_upload(faults.graphql_url, [pdf])
    seen: list[dict[str, Any]] = []
    first = asyncio.create_task(_listen(faults.ws_url, upload["id"], 0, seen))

    async def some_pages() -> bool:
        return len([e for e in seen if e["kind"] == "PAGE_DONE"]) >= 3

    await eventually(some_pages, 60, "a few pages streamed", faults)
    await asyncio.to_thread(restart_api, faults, kill=True)
    assert await first is False  # the connection dropped with the API

    last = seen[-1]["sequence"]
    resumed: list[dict[str, Any]] = []
    assert await asyncio.wait_for(_listen(faults.ws_url, upload["id"], last, resumed), 120)

    full: list[dict[str, Any]] = []
    assert await _listen(faults.ws_url, upload["id"], 0, full)
    # Streams resumed with `after` carry only the events after it: never a SNAPSHOT.
    assert "SNAPSHOT" not in [e["kind"] for e in seen + resumed + full]
    stream = seen + resumed
    assert [e["sequence"] for e in stream] == [e["sequence"] for e in full]
    assert stream == full
    assert stream[-1]["kind"] == "UPLOAD_DONE" and stream[-1]["uploadStatus"] == "COMPLETED"
    assert sum(e["kind"] == "PAGE_DONE" for e in stream) == 12


# 6. Pause, resume, drain, workers --------------------------------------------------------


async def test_pause_holds_new_documents_and_resume_converts_them(
    faults: Cluster, tmp_path: Path
) -> None:
    state = await processing(faults, "pauseProcessing")
    try:
        assert state["paused"] is True
        upload = await create_upload(faults.graphql_url, small_images(tmp_path, 2))
        # Several sweeps and deliveries happen in this window; none may start the documents.
        window = time.monotonic() + 4 * float(faults.env["PAGEMILL_SWEEP_INTERVAL"]) + 2
        while time.monotonic() < window:
            current = await get_upload(faults.graphql_url, upload["id"])
            assert current is not None
            assert {d["status"] for d in current["documents"]} == {"PENDING"}, current
            await asyncio.sleep(0.2)
        state = await processing(faults, "pauseProcessing")
        assert state["pendingDocuments"] >= 2
    finally:
        state = await processing(faults, "resumeProcessing")
    assert state["paused"] is False
    done = await wait_terminal(faults.graphql_url, upload["id"], timeout=60)
    assert done["status"] == "COMPLETED"


async def test_admin_drain_waits_for_in_flight_and_workers_lists_both(
    faults: Cluster, tmp_path: Path
) -> None:
    pdf = many_page_pdf(tmp_path / "drained.pdf", 10)
    upload = await create_upload(faults.graphql_url, [pdf])
    doc_id = upload["documents"][0]["id"]

    async def running() -> bool:
        return bool((await document_row(faults, doc_id))["status"] == "IN_PROGRESS")

    await eventually(running, 60, "the PDF to be converting", faults)
    try:
        out = await asyncio.to_thread(admin, faults, "drain", "--interval", "0.2")
        assert "drained" in out
        doc = await document_row(faults, doc_id)
        assert doc["status"] == "COMPLETED"  # drained by finishing, not by abandoning
        state = await processing(faults, "pauseProcessing")
        assert (state["paused"], state["inProgressDocuments"]) == (True, 0)
    finally:
        await processing(faults, "resumeProcessing")

    listed = await asyncio.to_thread(admin, faults, "workers")
    live = (await execute(faults.graphql_url, f"query {WORKERS}"))["workers"]
    ours = set().union(*(worker_pids(faults, w) for w in faults.workers))
    running_pids = {w["pid"] for w in live if w["pid"] in ours}
    assert len(running_pids) == 2, live  # one taskiq process per `pagemill worker`
    for pid in running_pids:
        assert str(pid) in listed, listed
    assert all(w["rssBytes"] > 0 for w in live)
    assert os.uname().nodename in listed


# 7. SIGTERM drain and process recycling --------------------------------------------------


def stop_worker(cluster: Cluster, proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM a `pagemill worker` supervisor (not its group); its exit code."""
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=timeout)
    cluster.workers.remove(proc)
    return code


def started_pids(cluster: Cluster, name: str, offset: int) -> list[int]:
    """Pids of the taskiq processes a supervisor started, in order, from its log (read from
    `offset`: log files are appended to by every worker started under the same name)."""
    text = (cluster.logs / f"{name}.log").read_bytes()[offset:].decode(errors="replace")
    return [int(pid) for pid in re.findall(r"started worker-0 \(pid (\d+)\)", text)]


def log_size(cluster: Cluster, name: str) -> int:
    """Bytes in a process log so far (0 before its first start)."""
    path = cluster.logs / f"{name}.log"
    return path.stat().st_size if path.exists() else 0


async def test_sigterm_drain_finishes_the_running_document_then_stops(
    draining: Cluster, tmp_path: Path
) -> None:
    name = f"worker{len(draining.workers)}"
    offset = log_size(draining, name)
    worker = draining.start_worker()
    await wait_ready(draining)
    # Seconds of work (30 pages, one task): the SIGTERM arrives mid-document.
    pdf = many_page_pdf(tmp_path / "draining.pdf", 30)
    upload = await create_upload(draining.graphql_url, [pdf])
    pdf_id = upload["documents"][0]["id"]

    async def converting() -> bool:
        doc = await document_row(draining, pdf_id)
        return doc["status"] == "IN_PROGRESS" and len(await pages_of(draining, pdf_id)) >= 1

    await eventually(converting, 60, "the PDF to be converting", draining)
    tree = psutil.Process(worker.pid).children(recursive=True)
    signalled = time.monotonic()
    worker.send_signal(signal.SIGTERM)

    async def draining_started() -> bool:
        log = (draining.logs / f"{name}.log").read_bytes()[offset:]
        return b"draining 1 worker" in log

    await eventually(draining_started, 10, "the supervisor to start draining", draining)
    late = await create_upload(draining.graphql_url, small_images(tmp_path, 1))
    grace = float(draining.env["PAGEMILL_DRAIN_SECONDS"])
    code = await asyncio.to_thread(worker.wait, grace + 15)
    stopped = time.monotonic() - signalled
    draining.workers.remove(worker)

    assert code == 0
    doc = await document_row(draining, pdf_id)
    assert (doc["status"], doc["page_count"], doc["attempts"]) == ("COMPLETED", 30, 1)
    assert not any(p.is_running() for p in tree)
    assert conversion_processes(draining) == []
    # The draining worker took no new work: the late document waits for another worker.
    assert (await document_row(draining, late["documents"][0]["id"]))["status"] == "PENDING"
    logger.warning("SIGTERM mid-PDF: worker exited %.1fs later (grace %.0fs)", stopped, grace)

    other = draining.start_worker()
    try:
        done = await wait_terminal(draining.graphql_url, late["id"], timeout=60)
        assert done["status"] == "COMPLETED"
        final = await wait_terminal(draining.graphql_url, upload["id"], timeout=10)
        assert final["status"] == "COMPLETED"
        await assert_pages_once(draining, final)
    finally:
        # Leave no worker behind to compete with the next test's.
        other_code = await asyncio.to_thread(stop_worker, draining, other, grace + 15)
    assert other_code == 0


async def test_worker_processes_are_recycled_after_n_conversions(
    draining: Cluster, tmp_path: Path
) -> None:
    assert draining.env["PAGEMILL_RECYCLE_AFTER"] == "2"
    name = f"worker{len(draining.workers)}"
    offset = log_size(draining, name)
    worker = draining.start_worker(processes=1)
    await wait_ready(draining)
    [first] = started_pids(draining, name, offset)
    upload = await create_upload(draining.graphql_url, small_images(tmp_path, 5))
    final = await wait_terminal(draining.graphql_url, upload["id"], timeout=60)

    assert final["status"] == "COMPLETED"
    assert {d["status"] for d in final["documents"]} == {"COMPLETED"}

    async def replaced_twice() -> list[int] | None:
        # 5 conversions and the archive: a fresh process after every second message.
        pids = started_pids(draining, name, offset)
        return pids if len(pids) >= 3 else None

    pids = await eventually(replaced_twice, 30, "the worker process replaced twice", draining)
    assert pids[0] == first and len(set(pids)) == len(pids)
    assert worker.poll() is None  # the supervisor outlives its processes

    async def one_live_process() -> bool:
        children = [p.pid for p in psutil.Process(worker.pid).children()]
        return children == started_pids(draining, name, offset)[-1:]

    await eventually(one_live_process, 30, "one live taskiq process, the latest", draining)
    grace = float(draining.env["PAGEMILL_DRAIN_SECONDS"])
    assert await asyncio.to_thread(stop_worker, draining, worker, grace + 15) == 0
