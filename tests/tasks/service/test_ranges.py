"""Big PDFs converted as page ranges: each range its own task and lease, the document finished
once by its last range (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from models.progress import events_after
from models.upload import Document, DocumentRange, Page, Status, Upload
from settings import Settings, get_settings
from tasks.engine.pages import PageResult
from tasks.sandbox.runner import ConversionOutcome as Finish
from tasks.service import documents as leases
from tasks.service import ranges, sweeper, uploads
from tasks.storage import LocalStorage
from tests.tasks.service.test_documents import converted, documents, make_pdf, make_upload

CORRUPT = Finish(page_count=12, error_code="CORRUPT_FILE", error_message="page 7", retriable=False)
KILLED = Finish(page_count=12, error_code="RESOURCE_LIMIT", error_message="oom", retriable=True)
DONE = Finish(page_count=12, error_code=None, error_message=None)


@pytest.fixture
def split_by_four(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """PDFs of more than 4 pages are converted as ranges of 4 pages."""
    settings = get_settings()
    monkeypatch.setattr(settings, "range_pages", 4)
    monkeypatch.setattr(settings, "range_threshold", 4)
    return settings


def test_a_pdf_above_the_threshold_is_planned_as_ranges(split_by_four: Settings) -> None:
    assert ranges.plan(4, split_by_four) == [(1, 4)]
    assert ranges.plan(10, split_by_four) == [(1, 4), (5, 8), (9, 10)]
    split_by_four.range_threshold = 6
    assert ranges.plan(15, split_by_four) == [(1, 6), (7, 10), (11, 14), (15, 15)]
    split_by_four.range_pages = 0
    assert ranges.plan(15, split_by_four) == [(1, 15)]


async def split_document(settings: Settings) -> tuple[Document, str, list[uuid.UUID]]:
    """A 12-page document whose task took it and split it into three ranges."""
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    owner = f"doc:{uuid.uuid4().hex}"
    taken, _ = await leases.start_document(doc.id, owner, settings)
    assert taken is not None
    await leases.set_page_count(doc.id, owner, 12)
    queued = await ranges.split(doc.id, owner, 12, settings)
    assert len(queued) == 2
    assert await ranges.split(doc.id, owner, 12, settings) == []  # once per document
    return taken, owner, queued


async def started(range_id: uuid.UUID, settings: Settings) -> str:
    owner = f"range:{uuid.uuid4().hex}"
    part, _, _ = await ranges.start_range(range_id, owner, settings)
    assert part is not None
    return owner


async def kinds(doc: Document) -> list[str]:
    return [e["kind"] for e in await events_after(leases.upload_id_of(doc), 0)]


async def test_ranges_ending_together_finish_the_document_once(
    db: str, split_by_four: Settings
) -> None:
    for _ in range(5):
        doc, owner, (second, third) = await split_document(split_by_four)
        assert await ranges.finish_first(doc.id, owner, DONE, split_by_four) == []
        owners = [await started(second, split_by_four), await started(third, split_by_four)]

        ended = await asyncio.gather(
            ranges.finish_range(second, owners[0], DONE, split_by_four),
            ranges.finish_range(third, owners[1], DONE, split_by_four),
        )

        assert sorted(len(events) for events, _ in ended) == [0, 1]
        assert (await kinds(doc)).count("DOCUMENT_DONE") == 1
        stored = await Document.get(id=doc.id)
        assert (stored.status, stored.page_count) == (Status.COMPLETED, 12)


async def test_document_waits_for_its_first_range(db: str, split_by_four: Settings) -> None:
    doc, owner, queued = await split_document(split_by_four)
    for range_id in queued:
        events, _ = await ranges.finish_range(
            range_id, await started(range_id, split_by_four), DONE, split_by_four
        )
        assert events == []
    assert (await Document.get(id=doc.id)).status == Status.IN_PROGRESS

    handed = await ranges.finish_first(doc.id, owner, DONE, split_by_four)

    assert [e["kind"] for e in handed or []] == ["DOCUMENT_DONE"]


async def test_killed_range_is_retried_alone(db: str, split_by_four: Settings) -> None:
    doc, owner, (second, third) = await split_document(split_by_four)
    third_owner = await started(third, split_by_four)
    _, retry = await ranges.finish_range(
        second, await started(second, split_by_four), KILLED, split_by_four
    )

    assert retry
    rows = {r.id: r for r in await DocumentRange.filter(document_id=doc.id)}
    assert rows[second].status == Status.PENDING
    assert (rows[third].status, rows[third].lease_owner) == (Status.IN_PROGRESS, third_owner)
    assert (await Document.get(id=doc.id)).status == Status.IN_PROGRESS


async def test_range_of_a_dead_worker_is_swept_alone(db: str, split_by_four: Settings) -> None:
    doc, owner, (second, third) = await split_document(split_by_four)
    await started(second, split_by_four)
    await started(third, split_by_four)
    await DocumentRange.filter(id=second).update(lease_expires=leases.now())

    await sweeper.sweep(split_by_four)

    rows = {r.id: r for r in await DocumentRange.filter(document_id=doc.id)}
    assert (rows[second].status, rows[second].lease_owner) == (Status.PENDING, None)
    assert rows[third].status == Status.IN_PROGRESS
    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.lease_owner) == (Status.IN_PROGRESS, owner)


async def test_cancel_stops_every_range(db: str, split_by_four: Settings) -> None:
    doc, owner, (second, third) = await split_document(split_by_four)
    range_owner = await started(second, split_by_four)
    part = await DocumentRange.get(id=second)

    await uploads.cancel_upload(leases.upload_id_of(doc))

    statuses = {r.status for r in await DocumentRange.filter(document_id=doc.id)}
    assert statuses == {Status.CANCELLED}
    assert not await ranges.held(second, range_owner, split_by_four, renew=True)
    page = PageResult(5, 10, 10, Path("0005.png"), 100)
    with pytest.raises(leases.LeaseLost):
        await ranges.record_page(
            part, range_owner, split_by_four, upload_id=leases.upload_id_of(doc),
            page_count=12, page=page, path="p/0005.png",
        )  # fmt: skip
    assert await Page.filter(document_id=doc.id).count() == 0


async def test_failed_range_fails_the_document_when_the_last_range_ends(
    db: str, split_by_four: Settings
) -> None:
    doc, owner, (second, third) = await split_document(split_by_four)
    await ranges.finish_first(doc.id, owner, DONE, split_by_four)
    events, _ = await ranges.finish_range(
        second, await started(second, split_by_four), CORRUPT, split_by_four
    )
    assert events == []  # the third range still converts its pages

    events, _ = await ranges.finish_range(
        third, await started(third, split_by_four), CORRUPT, split_by_four
    )

    assert [(e["kind"], e["error_code"]) for e in events] == [("DOCUMENT_FAILED", "CORRUPT_FILE")]
    assert (await Document.get(id=doc.id)).error_message == "page 7"


async def test_big_pdf_converts_as_ranges_with_every_page_once(
    db: str, split_by_four: Settings, tmp_path: Path
) -> None:
    upload = await make_upload([make_pdf(tmp_path / "big.pdf", 10)])
    (doc,) = await documents(upload)

    await converted(doc.id)

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.page_count) == (Status.COMPLETED, 10)
    spans = await DocumentRange.filter(document_id=doc.id).order_by("first_page")
    assert [(r.first_page, r.last_page, r.status) for r in spans] == [
        (1, 4, Status.COMPLETED), (5, 8, Status.COMPLETED), (9, 10, Status.COMPLETED),
    ]  # fmt: skip
    events = await events_after(upload.id, 0)
    numbers = sorted(e["page"]["number"] for e in events if e["kind"] == "PAGE_DONE")
    assert numbers == list(range(1, 11))
    assert [e["kind"] for e in events].count("DOCUMENT_DONE") == 1
    assert [e["kind"] for e in events].count("UPLOAD_DONE") == 1
    assert (await Upload.get(id=upload.id)).status == Status.COMPLETED
    storage = LocalStorage(split_by_four.storage_dir)
    pages = await Page.filter(document_id=doc.id)
    assert all(storage.resolve(page.path) for page in pages)


async def test_a_document_handed_to_its_ranges_is_not_taken_again(
    db: str, split_by_four: Settings
) -> None:
    doc, owner, _ = await split_document(split_by_four)
    await ranges.finish_first(doc.id, owner, DONE, split_by_four)

    taken, events = await leases.start_document(doc.id, "duplicate-delivery", split_by_four)

    assert (taken, events) == (None, [])
    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.lease_owner, stored.attempts) == (
        Status.IN_PROGRESS, leases.RANGED, 1,
    )  # fmt: skip
