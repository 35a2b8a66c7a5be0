"""Document and upload state transitions against the real database (no conversions run)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from models.progress import events_after
from models.storage import LocalStorage
from models.upload import Document, Status, Upload
from settings import get_settings
from tasks import pipeline
from tasks.pipeline import Finish, upload_outcome

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
    taken, _ = await pipeline.start_document(doc.id, owner, get_settings())
    assert taken is not None
    return await pipeline.finish_document(doc.id, owner, finish, get_settings())


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
    assert await pipeline.roll_up(upload.id) == []  # one document still pending
    await run_to(bad, CORRUPT)

    events = await pipeline.roll_up(upload.id)

    assert [e["kind"] for e in events] == ["UPLOAD_DONE"]
    assert events[0]["upload_status"] == "COMPLETED"
    stored = await Upload.get(id=upload.id)
    assert stored.status == Status.COMPLETED and stored.finished_at is not None
    assert (await Document.get(id=bad.id)).error_code == "CORRUPT_FILE"


async def test_upload_fails_only_when_every_document_failed(db: str) -> None:
    upload = await make_upload(2)
    for doc in await documents(upload):
        await run_to(doc, CORRUPT)

    events = await pipeline.roll_up(upload.id)

    assert events[0]["upload_status"] == "FAILED"


async def test_upload_done_is_appended_once_under_concurrent_roll_ups(db: str) -> None:
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    await run_to(doc, OK)

    results = await asyncio.gather(*(pipeline.roll_up(upload.id) for _ in range(8)))

    assert sum(len(r) for r in results) == 1
    kinds = [e["kind"] for e in await events_after(upload.id, 0)]
    assert kinds == ["DOCUMENT_STARTED", "DOCUMENT_DONE", "UPLOAD_DONE"]


async def test_second_lease_is_refused_while_the_first_is_alive(db: str) -> None:
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    settings = get_settings()

    first, _ = await pipeline.start_document(doc.id, "a", settings)
    second, events = await pipeline.start_document(doc.id, "b", settings)

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
    await pipeline.start_document(running.id, "w", settings)

    events = await pipeline.cancel_upload(upload.id)

    assert [e["kind"] for e in events] == ["DOCUMENT_FAILED", "DOCUMENT_FAILED", "UPLOAD_DONE"]
    assert events[-1]["upload_status"] == "CANCELLED"
    assert not await pipeline.renew_lease(running.id, "w", settings)
    assert await pipeline.start_document(waiting.id, "x", settings) == (None, [])
    assert await pipeline.cancel_upload(upload.id) == []


async def test_retry_reopens_a_failed_document(db: str) -> None:
    upload = await make_upload(1)
    (doc,) = await documents(upload)
    await run_to(doc, CORRUPT)
    await pipeline.roll_up(upload.id)

    assert await pipeline.retry_document(doc.id)

    stored = await Document.get(id=doc.id)
    assert (stored.status, stored.attempts, stored.error_code) == (Status.PENDING, 0, None)
    assert (await Upload.get(id=upload.id)).status == Status.IN_PROGRESS
