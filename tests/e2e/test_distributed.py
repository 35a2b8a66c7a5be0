"""The distributed system end to end: uvicorn + two `pagemill worker` processes on the real
Redis and PostgreSQL, driven over HTTP multipart and graphql-transport-ws."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.client import create_upload, execute, get_upload, subscribe, wait_terminal
from tests.e2e.conftest import many_page_pdf
from tests.e2e.harness import Cluster

EXPECTED_SIZES = {
    "mixed.pdf": [(2550, 3300), (3500, 2473), (1250, 1250)],
    "alpha.png": [(800, 600)],
    "big.jpg": [(3500, 2100)],
}


def _close(actual: tuple[int, int], expected: tuple[int, int]) -> bool:
    return all(abs(a - e) <= 1 for a, e in zip(actual, expected, strict=True))


def _assert_gapless(events: list[dict[str, Any]]) -> None:
    sequences = [e["sequence"] for e in events]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), sequences


async def test_upload_streams_every_event_in_order(
    distributed: Cluster, samples: dict[str, Path]
) -> None:
    upload = await create_upload(distributed.graphql_url, list(samples.values()))
    assert [d["filename"] for d in upload["documents"]] == ["mixed.pdf", "alpha.png", "big.jpg"]

    events = await subscribe(distributed.ws_url, upload["id"], after=0)

    assert "SNAPSHOT" not in [e["kind"] for e in events]  # `after` resumes: no snapshot
    assert events[-1]["kind"] == "UPLOAD_DONE"
    assert events[-1]["uploadStatus"] == "COMPLETED"
    _assert_gapless(events)
    assert events[0]["sequence"] == 1
    pages = [e for e in events if e["kind"] == "PAGE_DONE"]
    assert len(pages) == 5
    final = await get_upload(distributed.graphql_url, upload["id"])
    assert final is not None and final["status"] == "COMPLETED"
    by_doc = {d["id"]: d for d in final["documents"]}
    for doc in final["documents"]:
        sizes = [(p["width"], p["height"]) for p in doc["pages"]]
        expected = EXPECTED_SIZES[doc["filename"]]
        assert len(sizes) == len(expected)
        assert all(_close(a, e) for a, e in zip(sizes, expected, strict=True)), sizes
        assert [p["number"] for p in doc["pages"]] == list(range(1, len(sizes) + 1))
    for event in pages:
        page = event["page"]
        doc_pages = by_doc[event["documentId"]]["pages"]
        assert page == doc_pages[page["number"] - 1]
    async with httpx.AsyncClient() as http:
        for event in pages:
            body = (await http.get(event["page"]["url"])).content
            assert body.startswith(b"\x89PNG") and len(body) == event["page"]["sizeBytes"]

    snapshot = await subscribe(distributed.ws_url, upload["id"])
    assert len(snapshot) == 1 and snapshot[0]["kind"] == "SNAPSHOT"
    assert snapshot[0]["uploadStatus"] == final["status"]
    assert snapshot[0]["pagesDone"] == snapshot[0]["pageCount"] == final["pageCount"] == 5
    assert snapshot[0]["sequence"] == events[-1]["sequence"]


async def test_resubscribe_with_after_gets_exactly_the_missed_events(
    distributed: Cluster, tmp_path: Path
) -> None:
    pdf = many_page_pdf(tmp_path / "eight.pdf", 8)
    upload = await create_upload(distributed.graphql_url, [pdf])

    first = await subscribe(distributed.ws_url, upload["id"], after=0, stop_after=3)
    seen = first[-1]["sequence"]
    await wait_terminal(distributed.graphql_url, upload["id"])
    resumed = await subscribe(distributed.ws_url, upload["id"], after=seen)
    full = await subscribe(distributed.ws_url, upload["id"], after=0)

    assert resumed == [e for e in full if e["sequence"] > seen]
    assert [e["sequence"] for e in first + resumed] == [e["sequence"] for e in full]


async def test_two_uploads_convert_in_parallel_on_two_workers(
    distributed: Cluster, tmp_path: Path
) -> None:
    a = many_page_pdf(tmp_path / "a.pdf", 6)
    b = many_page_pdf(tmp_path / "b.pdf", 6)
    first, second = await asyncio.gather(
        create_upload(distributed.graphql_url, [a]), create_upload(distributed.graphql_url, [b])
    )
    runs = await asyncio.gather(
        subscribe(distributed.ws_url, first["id"], after=0),
        subscribe(distributed.ws_url, second["id"], after=0),
    )
    spans = []
    for upload, events in zip((first, second), runs, strict=True):
        done = await get_upload(distributed.graphql_url, upload["id"])
        assert done is not None and done["status"] == "COMPLETED"
        assert done["pageCount"] == 6
        assert [e["kind"] for e in events].count("PAGE_DONE") == 6
        doc = await _document_times(distributed, done["documents"][0]["id"])
        spans.append((doc["startedAt"], doc["finishedAt"]))
    (s1, f1), (s2, f2) = spans
    assert s1 < f2 and s2 < f1, f"conversions did not overlap: {spans}"


async def _document_times(cluster: Cluster, document_id: str) -> dict[str, datetime]:
    query = "query($id: ID!) { document(id: $id) { startedAt finishedAt } }"
    doc = (await execute(cluster.graphql_url, query, {"id": document_id}))["document"]
    return {k: datetime.fromisoformat(v) for k, v in doc.items()}


async def test_hundred_subscribers_all_receive_the_full_stream(
    distributed: Cluster, tmp_path: Path
) -> None:
    pdf = many_page_pdf(tmp_path / "fanout.pdf", 5)
    upload = await create_upload(distributed.graphql_url, [pdf])
    streams = await asyncio.gather(
        *(subscribe(distributed.ws_url, upload["id"], after=0) for _ in range(100))
    )
    reference = streams[0]
    assert [e["kind"] for e in reference].count("PAGE_DONE") == 5
    assert reference[0]["sequence"] == 1 and reference[-1]["kind"] == "UPLOAD_DONE"
    for stream in streams:
        assert stream == reference
