"""State transitions of documents and uploads; each commits and returns the events to publish."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from uuid import UUID

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.progress import append_event, document_progress, upload_totals
from models.storage import LocalStorage
from models.upload import TERMINAL, Document, ErrorCode, EventKind, Page, Status, Upload
from settings import Settings

logger = logging.getLogger(__name__)

Events = list[dict[str, Any]]
ACTIVE = (Status.PENDING, Status.IN_PROGRESS)


class LeaseLost(Exception):
    """The document is no longer ours: cancelled, or taken over after our lease expired."""


@dataclass(frozen=True)
class Finish:
    """How a conversion ended, as the pipeline needs it (mirrors the runner's outcome)."""

    page_count: int | None
    error_code: str | None
    error_message: str | None
    retriable: bool


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _lease_until(settings: Settings) -> datetime:
    return now() + timedelta(seconds=settings.lease_seconds)


async def start_document(
    document_id: UUID, owner: str, settings: Settings
) -> tuple[Document | None, Events]:
    """Take the document's lease and mark it started; None if someone else holds it."""
    async with in_transaction():
        taken = await Document.filter(
            Q(status=Status.PENDING)
            | Q(status=Status.IN_PROGRESS, lease_expires__lt=now())
            | Q(status=Status.IN_PROGRESS, lease_expires__isnull=True),
            id=document_id,
        ).update(
            status=Status.IN_PROGRESS,
            lease_owner=owner,
            lease_expires=_lease_until(settings),
            attempts=F("attempts") + 1,
        )
        if not taken:
            return None, []
        doc = await Document.get(id=document_id)
        if doc.attempts > settings.max_attempts:
            # Its earlier runs took their worker down with them (no outcome was recorded).
            return None, await _fail(doc, ErrorCode.WORKER_CRASHED, _crash_message(doc))
        await Document.filter(id=document_id, started_at__isnull=True).update(started_at=now())
        await Upload.filter(id=doc.upload_id, status=Status.PENDING).update(
            status=Status.IN_PROGRESS
        )
        event = await append_event(
            upload_id_of(doc),
            EventKind.DOCUMENT_STARTED,
            document_id=str(doc.id),
            document_status=Status.IN_PROGRESS.value,
            pages_done=await document_progress(doc.id),
            page_count=doc.page_count,
        )
    return doc, [event]


def _crash_message(doc: Document) -> str:
    return f"conversion did not finish after {doc.attempts - 1} attempts (worker lost)"


def upload_id_of(doc: Document) -> UUID:
    """The id of a document's upload (the raw foreign key column)."""
    value = doc.upload_id
    return value if isinstance(value, UUID) else UUID(str(value))


async def renew_lease(document_id: UUID, owner: str, settings: Settings) -> bool:
    """Extend our lease; False when the document was cancelled or taken over."""
    renewed = await Document.filter(
        id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
    ).update(lease_expires=_lease_until(settings))
    return renewed == 1


async def set_page_count(document_id: UUID, owner: str, count: int) -> None:
    """Record the page count once the conversion knows it."""
    await Document.filter(id=document_id, lease_owner=owner, status=Status.IN_PROGRESS).update(
        page_count=count
    )


async def record_page(
    document_id: UUID,
    owner: str,
    settings: Settings,
    *,
    upload_id: UUID,
    page_count: int | None,
    number: int,
    width: int,
    height: int,
    path: str,
    size_bytes: int,
) -> Events:
    """Store a finished page and its PAGE_DONE event; raises LeaseLost if no longer ours.
    The caller, which holds the lease, says the document's upload and page count."""
    async with in_transaction():
        # The conditional update locks the row, so a concurrent cancel waits for this commit.
        held = await Document.filter(
            id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
        ).update(lease_expires=_lease_until(settings))
        if not held:
            raise LeaseLost(str(document_id))
        if await Page.exists(document_id=document_id, number=number):
            return []
        page = await Page.create(
            document_id=document_id,
            number=number,
            width=width,
            height=height,
            path=path,
            size_bytes=size_bytes,
        )
        event = await append_event(
            upload_id,
            EventKind.PAGE_DONE,
            document_id=str(document_id),
            document_status=Status.IN_PROGRESS.value,
            pages_done=await document_progress(document_id),
            page_count=page_count,
            page={
                "id": str(page.id),
                "number": number,
                "width": width,
                "height": height,
                "path": path,
                "size_bytes": size_bytes,
            },
        )
    return [event]


async def finish_document(
    document_id: UUID, owner: str, finish: Finish, settings: Settings
) -> tuple[Events, bool]:
    """Record how a run ended. Returns (events, retry): retry means PENDING again."""
    async with in_transaction():
        doc = await Document.get_or_none(
            id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
        )
        if doc is None:
            return [], False
        if finish.error_code is None:
            return await _complete(doc, finish.page_count), False
        if finish.retriable and doc.attempts < settings.max_attempts:
            await Document.filter(id=doc.id).update(
                status=Status.PENDING,
                lease_owner=None,
                lease_expires=None,
                error_code=finish.error_code,
                error_message=finish.error_message,
            )
            return [], True
        if finish.page_count is not None:
            doc.page_count = finish.page_count
        code = ErrorCode(finish.error_code)
        return await _fail(doc, code, finish.error_message or code.value), False


async def _complete(doc: Document, page_count: int | None) -> Events:
    pages_done = await document_progress(doc.id)
    count = page_count if page_count is not None else pages_done
    await Document.filter(id=doc.id).update(
        status=Status.COMPLETED,
        page_count=count,
        error_code=None,
        error_message=None,
        lease_owner=None,
        lease_expires=None,
        finished_at=now(),
    )
    event = await append_event(
        upload_id_of(doc),
        EventKind.DOCUMENT_DONE,
        document_id=str(doc.id),
        document_status=Status.COMPLETED.value,
        pages_done=pages_done,
        page_count=count,
    )
    return [event]


async def _fail(doc: Document, code: ErrorCode, message: str) -> Events:
    await Document.filter(id=doc.id).update(
        status=Status.FAILED,
        page_count=doc.page_count,
        error_code=code,
        error_message=message,
        lease_owner=None,
        lease_expires=None,
        finished_at=now(),
    )
    event = await append_event(
        upload_id_of(doc),
        EventKind.DOCUMENT_FAILED,
        document_id=str(doc.id),
        document_status=Status.FAILED.value,
        pages_done=await document_progress(doc.id),
        page_count=doc.page_count,
        error_code=code.value,
    )
    return [event]


async def fail_document(document_id: UUID, owner: str, code: ErrorCode, message: str) -> Events:
    """Fail a document we hold without running it (e.g. its original is missing)."""
    async with in_transaction():
        doc = await Document.get_or_none(
            id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
        )
        if doc is None:
            return []
        return await _fail(doc, code, message)


async def release(document_id: UUID, owner: str) -> bool:
    """Give a document back untouched (worker shutting down): PENDING, attempt not counted."""
    released = await Document.filter(
        id=document_id, lease_owner=owner, status=Status.IN_PROGRESS
    ).update(
        status=Status.PENDING,
        lease_owner=None,
        lease_expires=None,
        attempts=F("attempts") - 1,
    )
    return released == 1


def upload_outcome(statuses: list[Status]) -> Status | None:
    """The upload's terminal status from its documents', or None while any is still active."""
    if any(s not in TERMINAL for s in statuses):
        return None
    if Status.CANCELLED in statuses:
        return Status.CANCELLED
    if Status.COMPLETED in statuses:
        return Status.COMPLETED
    return Status.FAILED


async def roll_up(upload_id: UUID) -> Events:
    """Finish the upload once every document is terminal; UPLOAD_DONE is appended only once."""
    async with in_transaction():
        # Distinct statuses only: a finishing document of a 1000-file batch must not read
        # every sibling row.
        statuses = await (
            Document.filter(upload_id=upload_id).distinct().values_list("status", flat=True)
        )
        outcome = upload_outcome([Status(str(s)) for s in statuses])
        if outcome is None:
            return []
        return await _finish_upload(upload_id, outcome)


async def _finish_upload(upload_id: UUID, outcome: Status) -> Events:
    # The conditional update is the guard: of concurrent roll-ups only one changes the row.
    changed = await Upload.filter(id=upload_id, status__in=ACTIVE).update(
        status=outcome, finished_at=now()
    )
    if not changed:
        return []
    done, total = await upload_totals(upload_id)
    event = await append_event(upload_id, EventKind.UPLOAD_DONE, pages_done=done, page_count=total)
    logger.info("upload %s finished: %s", upload_id, outcome.value)
    return [event]


async def cancel_upload(upload_id: UUID) -> Events:
    """Cancel every unfinished document and the upload; running conversions notice and stop."""
    async with in_transaction():
        # Lock every active document before append_event locks the upload row: workers lock
        # a document, then the upload; taking them one by one here deadlocked against them.
        rows = (
            await Document.filter(upload_id=upload_id, status__in=ACTIVE)
            .select_for_update()
            .only("id")  # values() would drop the FOR UPDATE
        )
        events: Events = []
        for document_id in (UUID(str(row.id)) for row in rows):
            await Document.filter(id=document_id).update(
                status=Status.CANCELLED,
                error_code=ErrorCode.CANCELLED,
                error_message="cancelled",
                lease_owner=None,
                lease_expires=None,
                finished_at=now(),
            )
            events.append(
                await append_event(
                    upload_id,
                    EventKind.DOCUMENT_FAILED,
                    document_id=str(document_id),
                    document_status=Status.CANCELLED.value,
                    pages_done=await document_progress(document_id),
                    error_code=ErrorCode.CANCELLED.value,
                )
            )
        events += await _finish_upload(upload_id, Status.CANCELLED)
    return events


async def retry_document(document_id: UUID) -> bool:
    """Put a FAILED or CANCELLED document back to PENDING (attempts reset) and its upload
    back in progress; the caller enqueues it."""
    async with in_transaction():
        doc = await Document.get_or_none(
            id=document_id, status__in=(Status.FAILED, Status.CANCELLED)
        )
        if doc is None:
            return False
        upload = await Upload.get(id=doc.upload_id)
        await Document.filter(id=document_id).update(
            status=Status.PENDING,
            attempts=0,
            error_code=None,
            error_message=None,
            finished_at=None,
            lease_owner=None,
            lease_expires=None,
        )
        await Upload.filter(id=upload.id).update(
            status=Status.IN_PROGRESS, finished_at=None, archive_path=None
        )
    return True


async def build_archive(upload_id: UUID, storage: LocalStorage) -> str | None:
    """Zip every page of a terminal upload with a manifest.json; returns its relative path."""
    upload = await Upload.get_or_none(id=upload_id)
    if upload is None or upload.status not in TERMINAL:
        return None
    documents = await Document.filter(upload_id=upload_id).order_by("index")
    pages = await Page.filter(document__upload_id=upload_id).order_by("number")
    by_document: dict[UUID, list[Page]] = {}
    for page in pages:
        by_document.setdefault(UUID(str(page.document_id)), []).append(page)
    manifest = _manifest(upload, documents, by_document)
    target = storage.upload_dir(upload_id) / "archive.zip"
    files = [
        (storage.root / page.path, entry["archive_path"])
        for doc in manifest["documents"]
        for page, entry in zip(by_document.get(UUID(doc["id"]), []), doc["pages"], strict=True)
    ]
    files += [
        (storage.root / doc.pdf_path, entry["pdf"])
        for doc, entry in zip(documents, manifest["documents"], strict=True)
        if doc.pdf_path and entry["pdf"]
    ]
    await asyncio.to_thread(_write_zip, target, manifest, files)
    relative = storage.relative(target)
    await Upload.filter(id=upload_id).update(archive_path=relative)
    return relative


def _manifest(
    upload: Upload, documents: list[Document], by_document: dict[UUID, list[Page]]
) -> dict[str, Any]:
    return {
        "upload_id": str(upload.id),
        "status": upload.status.value,
        "documents": [
            {
                "id": str(doc.id),
                "index": doc.index,
                "filename": doc.filename,
                "status": doc.status.value,
                "content_type": doc.content_type,
                "sha256": doc.sha256,
                "page_count": doc.page_count,
                "error_code": doc.error_code.value if doc.error_code else None,
                "error_message": doc.error_message,
                # The PDF rendition of an office document, None for other inputs.
                "pdf": f"{_archive_dir(doc)}/document.pdf" if doc.pdf_path else None,
                "pages": [
                    {
                        "number": page.number,
                        "width": page.width,
                        "height": page.height,
                        "size_bytes": page.size_bytes,
                        "archive_path": f"{_archive_dir(doc)}/{page.number:04d}.png",
                    }
                    for page in by_document.get(doc.id, [])
                ],
            }
            for doc in documents
        ],
    }


def _archive_dir(doc: Document) -> str:
    # Client filenames are data: only a stem of safe characters goes into the zip's names.
    stem = Path(PurePosixPath(doc.filename.replace("\\", "/")).name).stem
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "document"
    return f"{doc.index:04d}-{safe}"


def _write_zip(target: Path, manifest: dict[str, Any], files: list[tuple[Path, str]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.part")
    # PNGs are already deflated: storing them is as small and far faster.
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        for source, name in files:
            if source.is_file():
                archive.write(source, name)
    os.replace(partial, target)
