"""The per-upload event log: numbering under concurrency, snapshot and replay."""

from __future__ import annotations

import asyncio
import uuid

from tortoise.transactions import in_transaction

from models.events import append_event
from models.progress import events_after, snapshot
from models.upload import Document, EventKind, Page, Status, Upload


async def make_upload(documents: int = 1) -> Upload:
    upload = await Upload.create(id=uuid.uuid4(), document_count=documents)
    for index in range(documents):
        await Document.create(
            id=uuid.uuid4(),
            upload=upload,
            index=index,
            filename=f"f{index}.pdf",
            sha256="0" * 64,
            original_path=f"uploads/{upload.id}/x/original.pdf",
        )
    return upload


async def test_sequence_strictly_increases_under_concurrent_appends(db: str) -> None:
    upload = await make_upload()

    async def append(n: int) -> int:
        async with in_transaction():
            payload = await append_event(upload.id, EventKind.PAGE_DONE, pages_done=n)
            await asyncio.sleep(0)  # hold the transaction open across a scheduling point
        return int(payload["sequence"])

    sequences = await asyncio.gather(*(append(n) for n in range(40)))

    assert sorted(sequences) == list(range(1, 41))
    stored = await events_after(upload.id, 0)
    assert [e["sequence"] for e in stored] == list(range(1, 41))
    assert (await Upload.get(id=upload.id)).sequence == 40


async def test_events_after_replays_only_newer_events_in_order(db: str) -> None:
    upload = await make_upload()
    async with in_transaction():
        for _ in range(5):
            await append_event(upload.id, EventKind.DOCUMENT_STARTED)

    replay = await events_after(upload.id, 2)

    assert [e["sequence"] for e in replay] == [3, 4, 5]
    assert all(e["kind"] == "DOCUMENT_STARTED" for e in replay)
    assert replay[0]["upload_id"] == str(upload.id)


async def test_payload_has_the_agreed_shape(db: str) -> None:
    upload = await make_upload()
    async with in_transaction():
        payload = await append_event(
            upload.id, EventKind.DOCUMENT_FAILED, document_id="d", error_code="TIMEOUT"
        )

    assert set(payload) == {
        "sequence",
        "kind",
        "upload_id",
        "upload_status",
        "document_id",
        "document_status",
        "pages_done",
        "page_count",
        "page",
        "error_code",
        "upload_pages_done",
        "upload_page_count",
    }
    assert payload["upload_status"] == "PENDING"
    assert payload["error_code"] == "TIMEOUT"


async def test_snapshot_sums_pages_over_documents(db: str) -> None:
    upload = await make_upload(documents=2)
    first, second = await Document.filter(upload_id=upload.id).order_by("index")
    await Document.filter(id=first.id).update(page_count=3, status=Status.IN_PROGRESS)
    await Document.filter(id=second.id).update(page_count=2, status=Status.COMPLETED)
    for doc, numbers in ((first, [1]), (second, [1, 2])):
        for n in numbers:
            await Page.create(document=doc, number=n, width=1, height=1, path="p", size_bytes=1)
    async with in_transaction():
        await append_event(upload.id, EventKind.DOCUMENT_STARTED)

    snap = await snapshot(upload.id)

    assert snap is not None
    assert snap["kind"] == "SNAPSHOT"
    assert snap["sequence"] == 1
    assert (snap["pages_done"], snap["page_count"]) == (3, 5)
    assert [d["pages_done"] for d in snap["documents"]] == [1, 2]
    assert await snapshot(uuid.uuid4()) is None
