"""A worker process with several documents in flight: one converting while another waits for
a conversion slot, a SIGTERM drain that finishes or hands back both, a SIGKILL that loses
neither, and a killed conversion child that leaves its sibling's document alone. Each test
starts its own `pagemill worker` on the `draining` cluster, so no other worker competes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.e2e.client import create_upload, wait_terminal
from tests.e2e.conftest import many_page_pdf
from tests.e2e.harness import Cluster, kill_worker
from tests.e2e.test_faults import (
    assert_pages_once,
    conversion_processes,
    document_row,
    pages_of,
    wait_ready,
    worker_pids,
)
from tests.waiting import eventually

logger = logging.getLogger(__name__)

# The draining cluster replaces a process after 2 messages: here one process sees them all.
KEEP = {"PAGEMILL_RECYCLE_AFTER": "1000", "PAGEMILL_RANGE_PAGES": "0"}
# One conversion slot and two documents in flight: the second waits while the first converts.
# zlib's level 9 makes each page cost 0.3-0.6 s, so a document holds its slot for seconds
# however fast the host.
ONE_SLOT = {**KEEP, "PAGEMILL_WORKER_CHILDREN": "1", "PAGEMILL_PNG_COMPRESSION_LEVEL": "9"}
TWO_SLOTS = {**KEEP, "PAGEMILL_WORKER_CHILDREN": "2"}


@contextlib.contextmanager
def own_workers(cluster: Cluster) -> Iterator[None]:
    """Stop whatever worker a test leaves running (a failed run must not compete with the
    next test's worker)."""
    before = list(cluster.workers)
    try:
        yield
    finally:
        for proc in [p for p in cluster.workers if p not in before]:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_worker(proc)
            cluster.workers.remove(proc)


def owner_pid(doc: dict[str, Any]) -> int | None:
    """The pid of the process holding a document's lease (owner is host:pid:...)."""
    owner = doc["lease_owner"]
    return int(owner.split(":")[1]) if owner else None


async def both_in_flight(
    cluster: Cluster, worker: subprocess.Popen[bytes], ids: list[str], *, pages: list[int]
) -> list[dict[str, Any]]:
    """Wait until both documents are IN_PROGRESS under one process of `worker`, each with at
    least the pages given already recorded; their rows."""
    pids = worker_pids(cluster, worker)

    async def check() -> list[dict[str, Any]] | None:
        docs = [await document_row(cluster, doc_id) for doc_id in ids]
        owners = {owner_pid(doc) for doc in docs}
        if {doc["status"] for doc in docs} != {"IN_PROGRESS"} or len(owners) != 1:
            return None
        if not owners <= pids:
            return None
        done = [len(await pages_of(cluster, doc_id)) for doc_id in ids]
        return docs if all(d >= least for d, least in zip(done, pages, strict=True)) else None

    found: list[dict[str, Any]] = await eventually(
        check, 90, "both documents in flight in one worker process", cluster
    )
    return found


def stop(cluster: Cluster, worker: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM a `pagemill worker` supervisor and wait for it; its exit code."""
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=timeout)
    cluster.workers.remove(worker)
    return code


async def test_sigterm_drain_finishes_two_documents_in_flight(
    draining: Cluster, tmp_path: Path
) -> None:
    lease = 3.0
    env = {**ONE_SLOT, "PAGEMILL_LEASE_SECONDS": str(lease)}
    with own_workers(draining):
        worker = draining.start_worker(env=env)
        await wait_ready(draining)
        first = await create_upload(draining.graphql_url, [many_page_pdf(tmp_path / "a.pdf", 24)])
        converting = first["documents"][0]["id"]

        async def started() -> bool:
            return len(await pages_of(draining, converting)) >= 1

        await eventually(started, 60, "the first document converting", draining)
        second = await create_upload(draining.graphql_url, [many_page_pdf(tmp_path / "b.pdf", 4)])
        waiting = second["documents"][0]["id"]
        await both_in_flight(draining, worker, [converting, waiting], pages=[1, 0])
        owner = (await document_row(draining, waiting))["lease_owner"]
        since = time.monotonic()

        async def waited_past_its_lease() -> bool:
            # Still ours and still waiting for the slot, twice the lease after it started:
            # its lease was renewed while it held no child.
            row = await document_row(draining, waiting)
            assert (row["status"], row["lease_owner"]) == ("IN_PROGRESS", owner)
            assert await pages_of(draining, waiting) == []
            return time.monotonic() - since > 2 * lease

        await eventually(waited_past_its_lease, 30, "the second document to wait", draining)
        grace = float(draining.env["PAGEMILL_DRAIN_SECONDS"])
        tree = psutil.Process(worker.pid).children(recursive=True)
        code = await asyncio.to_thread(stop, draining, worker, grace + 15)

    assert code == 0
    for doc_id in (converting, waiting):
        row = await document_row(draining, doc_id)
        assert (row["status"], row["attempts"]) == ("COMPLETED", 1), row
    assert not any(p.is_running() for p in tree)
    assert conversion_processes(draining) == []
    for upload in (first, second):
        final = await wait_terminal(draining.graphql_url, upload["id"], timeout=10)
        assert final["status"] == "COMPLETED"
        await assert_pages_once(draining, final)


async def test_sigterm_past_the_drain_hands_back_both_documents_in_flight(
    draining: Cluster, tmp_path: Path
) -> None:
    with own_workers(draining):
        worker = draining.start_worker(env={**ONE_SLOT, "PAGEMILL_DRAIN_SECONDS": "1"})
        await wait_ready(draining)
        pdfs = [many_page_pdf(tmp_path / f"long-{n}.pdf", 30) for n in range(2)]
        upload = await create_upload(draining.graphql_url, pdfs)
        ids = [doc["id"] for doc in upload["documents"]]
        await both_in_flight(draining, worker, ids, pages=[0, 0])

        async def one_converting() -> bool:
            return any([len(await pages_of(draining, doc_id)) >= 1 for doc_id in ids])

        await eventually(one_converting, 60, "one document converting", draining)
        signalled = time.monotonic()
        code = await asyncio.to_thread(stop, draining, worker, 30)
        stopped = time.monotonic() - signalled
        kept = {doc_id: await pages_of(draining, doc_id) for doc_id in ids}
        for doc_id in ids:
            row = await document_row(draining, doc_id)
            # Handed back: nobody's, and the run that was cut short is not counted.
            assert (row["status"], row["lease_owner"], row["attempts"]) == ("PENDING", None, 0)
        assert conversion_processes(draining) == []
        logger.warning("SIGTERM with two in flight: handed back after %.1fs", stopped)

        draining.start_worker()
        final = await wait_terminal(draining.graphql_url, upload["id"], timeout=120)
        assert code == 0
        assert [d["status"] for d in final["documents"]] == ["COMPLETED", "COMPLETED"]
        await assert_pages_once(draining, final)
        for doc_id, before in kept.items():
            after = {p["number"]: p["id"] for p in await pages_of(draining, doc_id)}
            assert all(after[p["number"]] == p["id"] for p in before)  # resumed, not redone


async def test_sigkill_with_two_documents_in_flight_loses_neither(
    draining: Cluster, tmp_path: Path
) -> None:
    with own_workers(draining):
        worker = draining.start_worker(env=TWO_SLOTS)
        await wait_ready(draining)
        pdfs = [many_page_pdf(tmp_path / f"killed-{n}.pdf", 24) for n in range(2)]
        upload = await create_upload(draining.graphql_url, pdfs)
        ids = [doc["id"] for doc in upload["documents"]]
        await both_in_flight(draining, worker, ids, pages=[1, 1])
        kill_worker(worker)
        kept = {doc_id: await pages_of(draining, doc_id) for doc_id in ids}

        draining.start_worker()
        final = await wait_terminal(draining.graphql_url, upload["id"], timeout=120)

    assert [d["status"] for d in final["documents"]] == ["COMPLETED", "COMPLETED"]
    await assert_pages_once(draining, final)
    for doc_id, before in kept.items():
        row = await document_row(draining, doc_id)
        assert row["attempts"] == 2  # each retried once, by the sweeper
        after = {p["number"]: p["id"] for p in await pages_of(draining, doc_id)}
        assert all(after[p["number"]] == p["id"] for p in before)


async def test_killed_conversion_child_leaves_its_siblings_document_alone(
    draining: Cluster, tmp_path: Path
) -> None:
    with own_workers(draining):
        worker = draining.start_worker(env=TWO_SLOTS)
        await wait_ready(draining)
        pdfs = [many_page_pdf(tmp_path / f"sibling-{n}.pdf", 24) for n in range(2)]
        upload = await create_upload(draining.graphql_url, pdfs)
        ids = [doc["id"] for doc in upload["documents"]]
        await both_in_flight(draining, worker, ids, pages=[1, 1])
        pids = worker_pids(draining, worker)
        children = [p for p in conversion_processes(draining) if p.ppid() in pids]
        assert len(children) == 2, children
        os.killpg(children[0].pid, signal.SIGKILL)  # its group: a Ghostscript it runs too
        final = await wait_terminal(draining.graphql_url, upload["id"], timeout=120)
        assert worker.poll() is None  # the worker outlived its child
        grace = float(draining.env["PAGEMILL_DRAIN_SECONDS"])
        assert await asyncio.to_thread(stop, draining, worker, grace + 15) == 0

    assert [d["status"] for d in final["documents"]] == ["COMPLETED", "COMPLETED"]
    await assert_pages_once(draining, final)
    attempts = sorted([(await document_row(draining, doc_id))["attempts"] for doc_id in ids])
    assert attempts == [1, 2]  # the killed child's document retried, its sibling untouched
