"""Dedupe against the real database: identical content is converted once, then linked."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from PIL import Image

from models.progress import events_after
from models.upload import Document, Page, Status, Upload
from settings import Settings, get_settings
from tasks.service import dedupe
from tasks.service import documents as leases
from tasks.service.process import process_document
from tasks.storage import LocalStorage
from tests.waiting import eventually


def make_pdf(path: Path, pages: int) -> Path:
    images = [Image.new("RGB", (300, 400), (30 * n % 256, 90, 160)) for n in range(pages)]
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=72.0)
    return path


async def stored_document(source: Path, settings: Settings, **fields: Any) -> Document:
    """One PENDING document in an upload of its own, stored the way intake stores it."""
    storage = LocalStorage(settings.storage_dir)
    upload = await Upload.create(id=uuid.uuid4(), document_count=1)
    doc_id = uuid.uuid4()
    original = storage.original_path(upload.id, doc_id, "pdf")
    original.parent.mkdir(parents=True, exist_ok=True)
    original.write_bytes(source.read_bytes())
    values: dict[str, Any] = {
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "settings_fingerprint": dedupe.fingerprint(settings),
    }
    values.update(fields)
    return await Document.create(
        id=doc_id,
        upload=upload,
        index=1,
        filename=source.name,
        size_bytes=original.stat().st_size,
        original_path=storage.relative(original),
        **values,
    )


class Kicks:
    """Stands in for the broker: remembers what was queued again."""

    def __init__(self) -> None:
        self.ids: list[UUID] = []

    async def __call__(self, ids: list[UUID]) -> None:
        self.ids += ids


async def _plan(document_id: UUID, settings: Settings, kicks: Kicks) -> dedupe.Plan:
    """What dedupe says of the document as a worker dequeuing it now reads it."""
    return await dedupe.wait_for_source(await Document.get_or_none(id=document_id), settings, kicks)


async def kinds(doc: Document) -> list[str]:
    events = await events_after(leases.upload_id_of(doc), 0)
    return [e["kind"] for e in events if e["document_id"] == str(doc.id)]


def test_fingerprint_changes_with_the_settings_that_shape_pages() -> None:
    base = get_settings()
    changes: list[dict[str, object]] = [
        {},
        {"max_side": 2000},
        {"max_density": 150},
        {"png_compression_level": 6},
        {"pdf_engine": "ghostscript"},
        {"pdf_png_filter": 2},
    ]
    prints = {dedupe.fingerprint(base.model_copy(update=change)) for change in changes}
    assert len(prints) == len(changes)
    assert dedupe.fingerprint(base.model_copy(update={"lease_seconds": 1})) in prints


async def test_later_identical_document_waits_for_the_earlier_one(db: str, tmp_path: Path) -> None:
    settings = get_settings()
    pdf = make_pdf(tmp_path / "wait.pdf", 2)
    first = await stored_document(pdf, settings)
    second = await stored_document(pdf, settings)
    kicks = Kicks()

    assert not (await _plan(first.id, settings, kicks)).deferred
    plan = await _plan(second.id, settings, kicks)
    assert (plan.deferred, plan.source) == (True, first.id)
    await eventually(lambda: kicks.ids, 10, "the deferred document to be queued again")
    assert kicks.ids == [second.id]
    assert (await Document.get(id=second.id)).status == Status.PENDING


async def test_duplicate_converts_once_and_links_the_pages(db: str, tmp_path: Path) -> None:
    settings = get_settings()
    storage = LocalStorage(settings.storage_dir)
    pdf = make_pdf(tmp_path / "twice.pdf", 3)
    source = await stored_document(pdf, settings)
    duplicate = await stored_document(pdf, settings)
    kicks = Kicks()

    # The duplicate comes first while the source is still queued: it waits, untouched.
    assert (await _plan(duplicate.id, settings, kicks)).deferred
    await process_document(source.id, settings)
    await process_document(duplicate.id, settings)

    src = await Document.get(id=source.id)
    dup = await Document.get(id=duplicate.id)
    assert (src.status, dup.status) == (Status.COMPLETED, Status.COMPLETED)
    assert src.deduplicated_from is None and dup.deduplicated_from == source.id
    assert dup.page_count == src.page_count == 3
    src_pages = await Page.filter(document_id=source.id).order_by("number")
    dup_pages = await Page.filter(document_id=duplicate.id).order_by("number")
    assert [p.number for p in dup_pages] == [1, 2, 3]
    assert {p.id for p in src_pages}.isdisjoint(p.id for p in dup_pages)
    for a, b in zip(src_pages, dup_pages, strict=True):
        assert b.path.startswith(f"uploads/{dup.upload_id}/{dup.id}/")
        left, right = storage.root / a.path, storage.root / b.path
        assert left.read_bytes() == right.read_bytes()
        assert left.stat().st_ino == right.stat().st_ino  # linked, not rendered again
        assert (a.width, a.height, a.size_bytes) == (b.width, b.height, b.size_bytes)
    assert await kinds(dup) == ["DOCUMENT_STARTED"] + ["PAGE_DONE"] * 3 + ["DOCUMENT_DONE"]
    assert (await Upload.get(id=dup.upload_id)).status == Status.COMPLETED


async def test_no_reuse_outside_the_window_or_with_other_settings(db: str, tmp_path: Path) -> None:
    settings = get_settings()
    pdf = make_pdf(tmp_path / "old.pdf", 1)
    source = await stored_document(pdf, settings)
    await process_document(source.id, settings)
    assert (await Document.get(id=source.id)).status == Status.COMPLETED

    other = settings.model_copy(update={"max_side": 1000})
    resized = await stored_document(pdf, other, settings_fingerprint=dedupe.fingerprint(other))
    await process_document(resized.id, other)
    row = await Document.get(id=resized.id)
    assert row.status == Status.COMPLETED and row.deduplicated_from is None

    await Document.filter(id=source.id).update(
        finished_at=leases.now() - timedelta(seconds=settings.dedupe_window + 1)
    )
    late = await stored_document(pdf, settings)
    # The resized copy has other settings, the source is outside the window: convert again.
    await process_document(late.id, settings)
    row = await Document.get(id=late.id)
    assert row.status == Status.COMPLETED and row.deduplicated_from is None


async def test_documents_without_fingerprint_are_never_deduplicated(
    db: str, tmp_path: Path
) -> None:
    settings = get_settings()
    pdf = make_pdf(tmp_path / "legacy.pdf", 1)
    source = await stored_document(pdf, settings)
    await process_document(source.id, settings)
    legacy = await stored_document(pdf, settings, settings_fingerprint=None)
    assert not (await _plan(legacy.id, settings, Kicks())).deferred
    assert await dedupe.completed_source(legacy, settings) is None


async def test_missing_source_pages_fall_back_to_converting(db: str, tmp_path: Path) -> None:
    settings = get_settings()
    storage = LocalStorage(settings.storage_dir)
    pdf = make_pdf(tmp_path / "gone.pdf", 2)
    source = await stored_document(pdf, settings)
    await process_document(source.id, settings)
    for page in await Page.filter(document_id=source.id):
        (storage.root / page.path).unlink()
    again = await stored_document(pdf, settings)
    await process_document(again.id, settings)
    row = await Document.get(id=again.id)
    assert row.status == Status.COMPLETED and row.page_count == 2
    assert row.deduplicated_from is None


async def test_once_one_copy_is_done_the_others_stop_waiting(db: str, tmp_path: Path) -> None:
    settings = get_settings()
    pdf = make_pdf(tmp_path / "three.pdf", 1)
    source, second, third = [await stored_document(pdf, settings) for _ in range(3)]
    kicks = Kicks()
    assert (await _plan(third.id, settings, kicks)).deferred
    await process_document(source.id, settings)

    # The second copy is still queued, yet the third need not wait for it.
    plan = await _plan(third.id, settings, kicks)
    assert (plan.deferred, plan.identical) == (False, True)
    await process_document(third.id, settings)
    await process_document(second.id, settings)
    assert (await Document.get(id=third.id)).deduplicated_from == source.id
    row = await Document.get(id=second.id)
    assert row.status == Status.COMPLETED and row.deduplicated_from in (source.id, third.id)
