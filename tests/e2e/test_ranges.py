"""A big PDF converted as page ranges on every worker of the `distributed` cluster (ranges of
8 pages above 8 pages): each page once and in its place, the document finished once, a killed
worker's range converted again alone, a cancel stopping every range."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psutil

from tests.e2e.client import (
    create_upload,
    execute,
    get_upload,
    nobody_converts,
    subscribe,
    wait_terminal,
)
from tests.e2e.conftest import many_page_pdf
from tests.e2e.harness import Cluster, kill_worker
from tests.waiting import eventually

CANCEL = "mutation($id: ID!) { cancelUpload(id: $id) { id status } }"
HALF_LETTER = (306, 396)  # pages render at 1275x1650: the test is about ranges, not pixels


async def _ranges(pg_url: str, document_id: str) -> list[dict[str, Any]]:
    db = await asyncpg.connect(pg_url)
    try:
        rows = await db.fetch(
            'SELECT first_page, last_page, status, attempts, lease_owner FROM "document_range"'
            " WHERE document_id = $1 ORDER BY first_page",
            document_id,
        )
        return [dict(row) for row in rows]
    finally:
        await db.close()


async def _pages_recorded(pg_url: str, document_id: str) -> list[int]:
    db = await asyncpg.connect(pg_url)
    try:
        rows = await db.fetch("SELECT number FROM page WHERE document_id = $1", document_id)
        return sorted(row["number"] for row in rows)
    finally:
        await db.close()


def _workers_logging(cluster: Cluster, upload_id: str) -> set[str]:
    """The worker logs in which a range of the upload was converted."""
    return {
        log.name
        for log in cluster.logs.glob("worker*.log")
        for line in log.read_text(errors="replace").splitlines()
        if f"upload={upload_id}" in line and " pages=" in line
    }


def _page_numbers(events: list[dict[str, Any]]) -> list[int]:
    return [e["page"]["number"] for e in events if e["kind"] == "PAGE_DONE"]


async def test_big_pdf_converts_as_ranges_on_both_workers(
    distributed: Cluster, e2e_pg_url: str, tmp_path: Path
) -> None:
    pdf = many_page_pdf(tmp_path / "forty.pdf", 40, size=HALF_LETTER)
    upload = await create_upload(distributed.graphql_url, [pdf])

    events = await subscribe(distributed.ws_url, upload["id"], after=0)

    kinds = [e["kind"] for e in events]
    assert sorted(_page_numbers(events)) == list(range(1, 41))  # each page once
    assert kinds.count("DOCUMENT_DONE") == 1 and kinds.count("UPLOAD_DONE") == 1
    assert kinds[-1] == "UPLOAD_DONE" and events[-1]["uploadStatus"] == "COMPLETED"
    final = await get_upload(distributed.graphql_url, upload["id"])
    assert final is not None and final["pageCount"] == 40
    (doc,) = final["documents"]
    assert [p["number"] for p in doc["pages"]] == list(range(1, 41))
    spans = await _ranges(e2e_pg_url, doc["id"])
    assert [(r["first_page"], r["last_page"]) for r in spans] == [
        (n, n + 7) for n in range(1, 41, 8)
    ]
    assert {r["status"] for r in spans} == {"COMPLETED"}
    assert len(_workers_logging(distributed, upload["id"])) == 2, distributed.log_tail()


async def test_killed_worker_loses_nothing_and_only_its_range_runs_again(
    distributed: Cluster, e2e_pg_url: str, tmp_path: Path
) -> None:
    # Letter pages (about 0.1 s each): a range stays mid-way long enough to be seen there.
    pdf = many_page_pdf(tmp_path / "killed.pdf", 40)
    upload = await create_upload(distributed.graphql_url, [pdf])
    document_id = upload["documents"][0]["id"]
    victim = await _worker_mid_range(distributed, e2e_pg_url, document_id)
    pids = {victim.pid} | {p.pid for p in psutil.Process(victim.pid).children(recursive=True)}

    kill_worker(victim)
    distributed.workers.remove(victim)
    # Every unfinished range the killed worker held (it may hold several at once) runs again.
    held = {
        span["first_page"]
        for span in (await _ranges(e2e_pg_url, document_id))[1:]
        if span["status"] == "IN_PROGRESS" and int(span["lease_owner"].split(":")[1]) in pids
    }
    distributed.start_worker()  # the cluster keeps two workers for the other tests
    events = await subscribe(distributed.ws_url, upload["id"], after=0)

    assert events[-1]["kind"] == "UPLOAD_DONE" and events[-1]["uploadStatus"] == "COMPLETED"
    assert sorted(_page_numbers(events)) == list(range(1, 41))  # nothing lost, nothing twice
    spans = await _ranges(e2e_pg_url, document_id)
    assert {r["status"] for r in spans} == {"COMPLETED"}
    assert held, spans
    assert [r["attempts"] for r in spans[1:]] == [
        2 if r["first_page"] in held else 1 for r in spans[1:]
    ], (spans, held)
    assert [e["kind"] for e in events].count("DOCUMENT_DONE") == 1


async def _worker_mid_range(cluster: Cluster, pg_url: str, document_id: str) -> Any:
    """The worker process converting a range (not the first) that has recorded a page."""

    async def mid_range() -> Any:
        recorded = set(await _pages_recorded(pg_url, document_id))
        for span in await _ranges(pg_url, document_id):
            owner = span["lease_owner"]
            pages = set(range(span["first_page"], span["last_page"] + 1))
            running = span["first_page"] > 1 and owner and span["status"] == "IN_PROGRESS"
            if running and pages & recorded and not pages <= recorded:
                group = os.getpgid(int(owner.split(":")[1]))
                return next(w for w in cluster.workers if w.pid == group)
        return None

    return await eventually(mid_range, 30, "a range seen mid-way", cluster, interval=0.05)


async def test_cancel_stops_every_range(
    distributed: Cluster, e2e_pg_url: str, tmp_path: Path
) -> None:
    # Seconds of work even on two workers, so the cancel lands while ranges still run.
    pdf = many_page_pdf(tmp_path / "cancelled.pdf", 80)
    upload = await create_upload(distributed.graphql_url, [pdf])
    document_id = upload["documents"][0]["id"]
    await subscribe(distributed.ws_url, upload["id"], after=0, stop_after=6)

    await execute(distributed.graphql_url, CANCEL, {"id": upload["id"]})
    cancelled_at = datetime.now(UTC)
    final = await wait_terminal(distributed.graphql_url, upload["id"])
    recorded = await _pages_recorded(e2e_pg_url, document_id)
    await eventually(
        lambda: nobody_converts(distributed.graphql_url, document_id, cancelled_at),
        30,
        "every worker to stop converting the cancelled ranges",
        distributed,
    )

    assert final["status"] == "CANCELLED"
    assert await _pages_recorded(e2e_pg_url, document_id) == recorded
    assert len(recorded) < 80
    spans = await _ranges(e2e_pg_url, document_id)
    assert {r["status"] for r in spans} <= {"CANCELLED", "COMPLETED"}
    assert any(r["status"] == "CANCELLED" for r in spans)
