"""The sweeper finds abandoned documents and queues them again, once, and resumes them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from models.progress import events_after
from models.upload import Document, Page, Status
from settings import get_settings
from tasks.service import control, uploads
from tasks.service import documents as leases
from tasks.service.documents import now
from tasks.storage import LocalStorage
from tests.tasks.service.test_documents import documents, make_pdf, make_png, make_upload


async def settle() -> None:
    from tasks.broker import broker

    await broker.wait_all()  # type: ignore[attr-defined]


async def test_expired_lease_is_swept_and_resume_skips_recorded_pages(
    db: str, tmp_path: Path
) -> None:
    from tasks.runtime.tasks import convert_document
    from tasks.service.sweeper import sweep

    settings = get_settings()
    storage = LocalStorage(settings.storage_dir)
    upload = await make_upload([make_pdf(tmp_path / "four.pdf", 4)])
    (doc,) = await documents(upload)
    await convert_document(str(doc.id))
    await settle()
    # Rewind to "a worker died after recording page 1": later pages gone, lease expired.
    first = await Page.get(document_id=doc.id, number=1)
    first_file = storage.resolve(first.path)
    assert first_file is not None
    first_mtime = first_file.stat().st_mtime_ns
    for page in await Page.filter(document_id=doc.id, number__gt=1):
        (storage.root / page.path).unlink()
        await page.delete()
    await Document.filter(id=doc.id).update(
        status=Status.IN_PROGRESS,
        lease_owner="dead-worker",
        lease_expires=now() - timedelta(seconds=1),
        attempts=1,
        page_count=None,
    )
    await uploads.roll_up(upload.id)
    before = (await events_after(upload.id, 0))[-1]["sequence"]

    swept = await sweep(settings)
    await settle()

    assert doc.id in swept
    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.page_count, stored.attempts) == (Status.COMPLETED, 4, 2)
    pages = await Page.filter(document_id=doc.id).order_by("number")
    assert [p.number for p in pages] == [1, 2, 3, 4]
    assert pages[0].id == first.id and first_file.stat().st_mtime_ns == first_mtime
    resumed = await events_after(upload.id, before)
    assert [e["kind"] for e in resumed][:4] == ["DOCUMENT_STARTED"] + ["PAGE_DONE"] * 3
    assert [e["page"]["number"] for e in resumed if e["page"]] == [2, 3, 4]


async def test_forgotten_pending_document_is_queued_once_by_concurrent_sweepers(
    db: str, tmp_path: Path
) -> None:
    from tasks.service.sweeper import sweep

    settings = get_settings()
    upload = await make_upload([make_png(tmp_path / "a.png")])
    (doc,) = await documents(upload)
    # Stored by the API, which crashed before enqueueing it.
    await Document.filter(id=doc.id).update(created_at=now() - timedelta(hours=1))

    results = await asyncio.gather(*(sweep(settings) for _ in range(5)))
    await settle()

    assert sorted(sum(results, []), key=str).count(doc.id) == 1
    assert (await Document.get(id=doc.id)).status == Status.COMPLETED


async def test_recently_queued_and_live_documents_are_left_alone(db: str, tmp_path: Path) -> None:
    from tasks.service.enqueue import mark_enqueued
    from tasks.service.sweeper import sweep

    settings = get_settings()
    upload = await make_upload([make_png(tmp_path / "a.png"), make_png(tmp_path / "b.png")])
    queued, running = await documents(upload)
    await mark_enqueued([queued.id], settings)
    await leases.start_document(running.id, "live-worker", settings)

    swept = await sweep(settings)

    assert queued.id not in swept and running.id not in swept
    assert (await Document.get(id=running.id)).lease_owner == "live-worker"


async def test_sweeper_does_nothing_while_paused_and_catches_up_after(
    db: str, tmp_path: Path
) -> None:
    from tasks.service.sweeper import sweep

    settings = get_settings()
    upload = await make_upload([make_png(tmp_path / "a.png")])
    (doc,) = await documents(upload)
    await control.set_paused(True)
    try:
        assert await sweep(settings, pending_after=0) == []
    finally:
        await control.set_paused(False)

    swept = await sweep(settings, pending_after=0)
    await settle()

    assert doc.id in swept
    assert (await Document.get(id=doc.id)).status == Status.COMPLETED


async def test_document_lost_too_often_fails_as_worker_crashed(db: str, tmp_path: Path) -> None:
    from tasks.service.sweeper import sweep

    settings = get_settings()
    upload = await make_upload([make_png(tmp_path / "a.png")])
    (doc,) = await documents(upload)
    await Document.filter(id=doc.id).update(
        status=Status.IN_PROGRESS,
        lease_owner="dead-worker",
        lease_expires=now() - timedelta(seconds=1),
        attempts=settings.max_attempts,
    )

    await sweep(settings)
    await settle()

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.error_code) == (Status.FAILED, "WORKER_CRASHED")
    kinds = [e["kind"] for e in await events_after(upload.id, 0)]
    assert kinds == ["DOCUMENT_FAILED", "UPLOAD_DONE"]
    assert uuid.UUID(str(stored.upload_id)) == upload.id
