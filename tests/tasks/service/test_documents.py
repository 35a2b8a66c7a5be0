"""Document and upload state transitions against the real database (no conversions run)."""

from __future__ import annotations

import asyncio
import json
import uuid
import zipfile
from pathlib import Path

from models.progress import events_after
from models.upload import Document, Status, Upload
from settings import get_settings
from tasks.sandbox.runner import ConversionOutcome as Finish
from tasks.service import documents as leases
from tasks.service import uploads
from tasks.service.uploads import upload_outcome
from tasks.storage import LocalStorage

OK = Finish(page_count=1, error_code=None, error_message=None, retriable=False)
CORRUPT = Finish(page_count=None, error_code="CORRUPT_FILE", error_message="bad", retriable=False)
KILLED = Finish(page_count=None, error_code="RESOURCE_LIMIT", error_message="oom", retriable=True)


async def make_upload(files: list[Path] | int, storage: LocalStorage | None = None) -> Upload:
    """An upload with one PENDING document per file, originals stored like the API does."""
    storage = storage or LocalStorage(get_settings().storage_dir)
    sources = files if isinstance(files, list) else [None] * files
    upload = await Upload.create(id=uuid.uuid4(), document_count=len(sources))
    for index, source in enumerate(sources):
        doc_id = uuid.uuid4()
        ext = source.suffix.lstrip(".") if source else "pdf"
        original = storage.original_path(upload.id, doc_id, ext)
        original.parent.mkdir(parents=True, exist_ok=True)
        original.write_bytes(source.read_bytes() if source else b"%PDF-1.4\n")
        await Document.create(
            id=doc_id,
            upload=upload,
            index=index,
            filename=source.name if source else f"f{index}.pdf",
            sha256="0" * 64,
            size_bytes=original.stat().st_size,
            original_path=storage.relative(original),
        )
    return upload


async def documents(upload: Upload) -> list[Document]:
    return await Document.filter(upload_id=upload.id).order_by("index")


async def run_to(doc: Document, finish: Finish) -> tuple[list[dict[str, object]], bool]:
    owner = f"test:{uuid.uuid4().hex}"
    taken, _ = await leases.start_document(doc.id, owner, get_settings())
    assert taken is not None
    return await leases.finish_document(doc.id, owner, finish, get_settings())


def test_upload_outcome_rules() -> None:
    s = Status
    assert upload_outcome([s.COMPLETED, s.FAILED]) == s.COMPLETED
    assert upload_outcome([s.FAILED, s.FAILED]) == s.FAILED
    assert upload_outcome([s.COMPLETED, s.CANCELLED]) == s.CANCELLED
    assert upload_outcome([s.COMPLETED, s.IN_PROGRESS]) is None
    assert upload_outcome([s.PENDING]) is None


async def test_mixed_upload_completes_and_keeps_the_failed_document(db: str) -> None:
    upload = await make_upload(2)
    good, bad = await documents(upload)
    await run_to(good, OK)
    assert await uploads.roll_up(upload.id) == []  # one document still pending
    await run_to(bad, CORRUPT)

    events = await uploads.roll_up(upload.id)

    assert [e["kind"] for e in events] == ["UPLOAD_DONE"]
    assert events[0]["upload_status"] == "COMPLETED"
    stored = await Upload.get(id=upload.id)
    assert stored.status == Status.COMPLETED and stored.finished_at is not None
    assert (await Document.get(id=bad.id)).error_code == "CORRUPT_FILE"


async def test_upload_fails_only_when_every_document_failed(db: str) -> None:
    upload = await make_upload(2)
    for doc in await documents(upload):
        await run_to(doc, CORRUPT)

    events = await uploads.roll_up(upload.id)

    assert events[0]["upload_status"] == "FAILED"


async def test_upload_done_is_appended_once_under_concurrent_roll_ups(db: str) -> None:
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    await run_to(doc, OK)

    results = await asyncio.gather(*(uploads.roll_up(upload.id) for _ in range(8)))

    assert sum(len(r) for r in results) == 1
    kinds = [e["kind"] for e in await events_after(upload.id, 0)]
    assert kinds == ["DOCUMENT_STARTED", "DOCUMENT_DONE", "UPLOAD_DONE"]


async def test_second_lease_is_refused_while_the_first_is_alive(db: str) -> None:
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    settings = get_settings()

    first, _ = await leases.start_document(doc.id, "a", settings)
    second, events = await leases.start_document(doc.id, "b", settings)

    assert first is not None and second is None and events == []
    stored = await Document.get(id=doc.id)
    assert (stored.lease_owner, stored.attempts) == ("a", 1)


async def test_retriable_failure_retries_until_the_attempt_limit(db: str) -> None:
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    max_attempts = get_settings().max_attempts

    for _ in range(max_attempts - 1):
        events, retry = await run_to(doc, KILLED)
        assert retry and events == []
        assert (await Document.get(id=doc.id)).status == Status.PENDING
    events, retry = await run_to(doc, KILLED)

    assert not retry
    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.error_code) == (Status.FAILED, "RESOURCE_LIMIT")
    assert stored.attempts == max_attempts
    assert events[0]["kind"] == "DOCUMENT_FAILED"


async def test_cancel_stops_the_holder_and_finishes_the_upload(db: str) -> None:
    upload = await make_upload(2)
    running, waiting = await documents(upload)
    settings = get_settings()
    await leases.start_document(running.id, "w", settings)

    events = await uploads.cancel_upload(upload.id)

    assert [e["kind"] for e in events] == ["DOCUMENT_FAILED", "DOCUMENT_FAILED", "UPLOAD_DONE"]
    assert events[-1]["upload_status"] == "CANCELLED"
    assert not await leases.renew_lease(running.id, "w", settings)
    assert await leases.start_document(waiting.id, "x", settings) == (None, [])
    assert await uploads.cancel_upload(upload.id) == []


async def test_retry_reopens_a_failed_document(db: str) -> None:
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    await run_to(doc, CORRUPT)
    await uploads.roll_up(upload.id)

    assert await uploads.retry_document(doc.id)

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.attempts) == (Status.PENDING, 0)
    assert stored.error_code is None
    assert (await Upload.get(id=upload.id)).status == Status.IN_PROGRESS


# --- the convert task with the real runner and engine -------------------------------------


def make_pdf(path: Path, pages: int, size: tuple[int, int] = (600, 800)) -> Path:
    """A real multi-page PDF (Pillow), each page a different shade."""
    from PIL import Image

    images = [Image.new("RGB", size, (40 * n % 256, 90, 160)) for n in range(pages)]
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=72.0)
    return path


def make_png(path: Path, size: tuple[int, int] = (300, 200)) -> Path:
    from PIL import Image

    Image.new("RGBA", size, (10, 200, 30, 128)).save(path, "PNG")
    return path


def make_corrupt_pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer\n")
    return path


async def converted(doc_id: uuid.UUID) -> None:
    """Run the task function itself, then let follow-up tasks (archive, retries) finish."""
    from tasks.broker import broker
    from tasks.runtime.tasks import convert_document

    await convert_document(str(doc_id))
    await broker.wait_all()  # type: ignore[attr-defined]


async def test_pdf_document_converts_with_pages_and_events_in_order(
    db: str, tmp_path: Path
) -> None:
    from tasks.bus import get_bus

    upload = await make_upload([make_pdf(tmp_path / "three.pdf", 3)])
    (doc,) = await documents(upload)
    bus = get_bus(get_settings())

    async with bus.listen(upload.id) as stream:
        await converted(doc.id)
        published = [await asyncio.wait_for(anext(stream), 10) for _ in range(6)]

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.page_count) == (Status.COMPLETED, 3)
    assert stored.error_code is None
    pages = await stored.pages.all().order_by("number")
    assert [p.number for p in pages] == [1, 2, 3]
    storage = LocalStorage(get_settings().storage_dir)
    for page in pages:
        on_disk = storage.resolve(page.path)
        assert on_disk is not None and on_disk.stat().st_size == page.size_bytes
        assert max(page.width, page.height) <= 3500
    events = await events_after(upload.id, 0)
    kinds = [e["kind"] for e in events]
    assert kinds == ["DOCUMENT_STARTED"] + ["PAGE_DONE"] * 3 + ["DOCUMENT_DONE", "UPLOAD_DONE"]
    assert [e["sequence"] for e in events] == list(range(1, 7))
    assert [e["page"]["number"] for e in events if e["page"]] == [1, 2, 3]
    assert events[-1]["upload_status"] == "COMPLETED"
    assert (events[-1]["pages_done"], events[-1]["page_count"]) == (3, 3)
    assert published == events
    archived = await Upload.get(id=upload.id)
    assert archived.status == Status.COMPLETED and archived.archive_path is not None
    zipped = storage.resolve(archived.archive_path)
    assert zipped is not None
    with zipfile.ZipFile(zipped) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        (entry,) = manifest["documents"]
        assert entry["status"] == "COMPLETED" and len(entry["pages"]) == 3
        for page, row in zip(entry["pages"], pages, strict=True):
            assert archive.getinfo(page["archive_path"]).file_size == row.size_bytes


async def test_corrupt_document_fails_with_its_code_and_upload_fails(
    db: str, tmp_path: Path
) -> None:
    upload = await make_upload([make_corrupt_pdf(tmp_path / "broken.pdf")])
    (doc,) = await documents(upload)

    await converted(doc.id)

    stored = await Document.get(id=doc.id)
    assert stored.status == Status.FAILED
    assert stored.error_code == "CORRUPT_FILE" and stored.error_message
    assert (await Upload.get(id=upload.id)).status == Status.FAILED
    kinds = [e["kind"] for e in await events_after(upload.id, 0)]
    assert kinds == ["DOCUMENT_STARTED", "DOCUMENT_FAILED", "UPLOAD_DONE"]


async def test_text_file_fails_as_unsupported_format(db: str, tmp_path: Path) -> None:
    text = tmp_path / "notes.pdf"
    text.write_text("just words, whatever the name says\n")
    upload = await make_upload([text])
    (doc,) = await documents(upload)

    await converted(doc.id)

    assert (await Document.get(id=doc.id)).error_code == "UNSUPPORTED_FORMAT"


async def test_mixed_upload_of_image_and_corrupt_pdf_completes(db: str, tmp_path: Path) -> None:
    upload = await make_upload([make_png(tmp_path / "a.png"), make_corrupt_pdf(tmp_path / "b.pdf")])
    for doc in await documents(upload):
        await converted(doc.id)

    good, bad = await documents(upload)
    assert (good.status, good.page_count, bad.status) == (Status.COMPLETED, 1, Status.FAILED)
    assert (await Upload.get(id=upload.id)).status == Status.COMPLETED


async def test_duplicate_delivery_while_lease_is_alive_does_nothing(
    db: str, tmp_path: Path
) -> None:
    upload = await make_upload([make_png(tmp_path / "a.png")])
    (doc,) = await documents(upload)
    await leases.start_document(doc.id, "another-worker", get_settings())

    await converted(doc.id)

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.lease_owner, stored.attempts) == (
        Status.IN_PROGRESS,
        "another-worker",
        1,
    )
    assert await stored.pages.all().count() == 0
    assert [e["kind"] for e in await events_after(upload.id, 0)] == ["DOCUMENT_STARTED"]


async def test_cancelled_document_stops_and_records_nothing_more(db: str, tmp_path: Path) -> None:
    from tasks.bus import get_bus
    from tasks.runtime.tasks import convert_document

    upload = await make_upload([make_pdf(tmp_path / "long.pdf", 12, size=(2400, 3200))])
    (doc,) = await documents(upload)
    async with get_bus(get_settings()).listen(upload.id) as stream:
        task = asyncio.create_task(convert_document(str(doc.id)))
        while (await asyncio.wait_for(anext(stream), 60))["kind"] != "PAGE_DONE":
            pass
        cancel_events = await uploads.cancel_upload(upload.id)
        await asyncio.wait_for(task, 30)

    stored = await Document.get(id=doc.id)
    assert stored.status == Status.CANCELLED
    assert (await Upload.get(id=upload.id)).status == Status.CANCELLED
    events = await events_after(upload.id, 0)
    assert events[-1] == cancel_events[-1]  # nothing recorded after the cancel
    assert [e["kind"] for e in events].count("UPLOAD_DONE") == 1


async def test_paused_processing_leaves_documents_pending(db: str, tmp_path: Path) -> None:
    from tasks.service import control

    upload = await make_upload([make_png(tmp_path / "a.png")])
    (doc,) = await documents(upload)
    await control.set_paused(True)
    try:
        await converted(doc.id)
        stored = await Document.get(id=doc.id)
        assert (stored.status, stored.attempts) == (Status.PENDING, 0)
    finally:
        await control.set_paused(False)
    await converted(doc.id)
    assert (await Document.get(id=doc.id)).status == Status.COMPLETED


# --- broker and worker bookkeeping ---------------------------------------------------------


async def test_redis_broker_uses_prefixed_stream_and_acknowledges(redis_url: str) -> None:
    import redis.asyncio as aioredis
    from taskiq_redis import RedisStreamBroker

    from tasks.broker import make_broker

    settings = get_settings().model_copy(update={"redis_url": redis_url})
    redis_broker = make_broker(settings)
    assert isinstance(redis_broker, RedisStreamBroker)
    assert redis_broker.count == 1 and redis_broker.maxlen
    admin = aioredis.from_url(redis_url)
    try:
        await redis_broker.startup()  # client side: declares the consumer group
        task = redis_broker.register_task(lambda: None, task_name="tests.noop")
        await task.kiq()
        stream = f"{settings.redis_prefix}:tasks"
        messages = redis_broker.listen()
        delivery = await asyncio.wait_for(anext(messages), 10)
        pending = await admin.xpending(stream, f"{settings.redis_prefix}:workers")
        assert pending["pending"] == 1
        assert not isinstance(delivery, bytes)
        await delivery.ack()  # type: ignore[misc]
        pending = await admin.xpending(stream, f"{settings.redis_prefix}:workers")
        assert pending["pending"] == 0
        await messages.aclose()
    finally:
        await redis_broker.shutdown()
        await admin.aclose()


async def test_heartbeats_list_live_workers_and_processing_state(db: str) -> None:
    from datetime import UTC, datetime, timedelta

    from models.upload import WorkerState
    from tasks.service import control

    settings = get_settings()
    worker_id = control.new_worker_id()
    await control.heartbeat(worker_id, datetime.now(UTC), None, 3)
    await control.heartbeat(worker_id, datetime.now(UTC), None, 4)
    await WorkerState.create(
        id="gone",
        host="h",
        pid=1,
        started_at=datetime.now(UTC) - timedelta(hours=2),
        heartbeat_at=datetime.now(UTC) - timedelta(hours=1),
    )

    live = {w.id: w for w in await control.live_workers(settings)}

    assert worker_id in live and "gone" not in live
    assert live[worker_id].conversions_done == 4 and live[worker_id].rss_bytes > 0
    state = await control.processing_state(settings)
    assert state.workers >= 1 and not state.paused
    await control.remove_worker(worker_id)
    assert await control.prune_workers(settings) >= 1


async def test_killed_conversion_is_retried_then_fails_at_the_attempt_limit(
    db: str, tmp_path: Path
) -> None:
    from tasks.broker import broker
    from tasks.service.process import process_document

    settings = get_settings()
    # An address-space cap far below what rendering needs: the child dies every time.
    starved = settings.model_copy(update={"memory_limit_mb": 40})
    upload = await make_upload([make_pdf(tmp_path / "big.pdf", 1, size=(2400, 3200))])
    (doc,) = await documents(upload)
    await Document.filter(id=doc.id).update(attempts=settings.max_attempts - 1)

    await process_document(doc.id, starved)
    await broker.wait_all()  # type: ignore[attr-defined]

    stored = await Document.get(id=doc.id)
    assert stored.status == Status.FAILED
    assert stored.error_code in ("RESOURCE_LIMIT", "WORKER_CRASHED")
    assert stored.attempts == settings.max_attempts
    assert (await Upload.get(id=upload.id)).status == Status.FAILED


async def test_killed_conversion_is_retried_and_the_retry_completes(
    db: str, tmp_path: Path
) -> None:
    from tasks.broker import broker
    from tasks.service.process import process_document

    starved = get_settings().model_copy(update={"memory_limit_mb": 40})
    upload = await make_upload([make_pdf(tmp_path / "big.pdf", 1, size=(2400, 3200))])
    (doc,) = await documents(upload)

    await process_document(doc.id, starved)  # killed; re-queued with the normal settings
    await broker.wait_all()  # type: ignore[attr-defined]

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.attempts, stored.page_count) == (Status.COMPLETED, 2, 1)
    kinds = [e["kind"] for e in await events_after(upload.id, 0)]
    assert kinds == ["DOCUMENT_STARTED", "DOCUMENT_STARTED", "PAGE_DONE", "DOCUMENT_DONE"] + [
        "UPLOAD_DONE"
    ]


async def test_a_conversion_on_an_unreachable_bucket_is_retried_and_the_retry_completes(
    db: str, tmp_path: Path
) -> None:
    from tasks.broker import broker
    from tasks.service.process import process_document
    from tests.e2e.harness import free_port

    outage = get_settings().model_copy(
        update={"storage_url": "s3://gone", "s3_endpoint_url": f"http://127.0.0.1:{free_port()}"}
    )
    upload = await make_upload([make_pdf(tmp_path / "one.pdf", 1)])
    (doc,) = await documents(upload)

    await process_document(doc.id, outage)  # nothing stored: re-queued with the normal settings
    await broker.wait_all()  # type: ignore[attr-defined]

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.attempts, stored.page_count) == (Status.COMPLETED, 2, 1)
    kinds = [e["kind"] for e in await events_after(upload.id, 0)]
    assert kinds == ["DOCUMENT_STARTED", "DOCUMENT_STARTED", "PAGE_DONE", "DOCUMENT_DONE"] + [
        "UPLOAD_DONE"
    ]
