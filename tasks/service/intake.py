"""Intake: accept files as one upload, store them and their rows in one go, queue conversions."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from prometheus_client import Counter
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.events import append_event
from models.upload import Document, EventKind, Status, Upload
from settings import Settings
from tasks.engine.errors import without_paths
from tasks.service.enqueue import enqueue_documents
from tasks.service.errors import InvalidInput, RequestTooLarge, StorageFailed
from tasks.service.files import Readable, discard, forget, place, plan_files, spool, tmp_dir
from tasks.service.notify import publish
from tasks.service.planned import IncomingFile, Plan, Skipped
from tasks.service.uploads import finish_upload
from tasks.service.webhooks import Subscriber
from tasks.storage import ObjectStore, StorageUnavailable

logger = logging.getLogger(__name__)

UPLOADS_CREATED = Counter("pagemill_uploads_created", "Uploads accepted by createUpload")
DOCUMENTS_CREATED = Counter("pagemill_documents_created", "Documents accepted by createUpload")


class Part(Readable, Protocol):
    """A multipart file part with the size the request declared for it."""

    @property
    def size(self) -> int | None: ...


def check_limits(files: Sequence[Part], settings: Settings) -> None:
    """Refuse the whole request before anything is stored (PAYLOAD_TOO_LARGE)."""
    if not files:
        raise InvalidInput("`files` must not be empty")
    if len(files) > settings.max_files:
        raise RequestTooLarge(f"{len(files)} files; at most {settings.max_files} per request")
    total = 0
    for file in files:
        size = file.size or 0
        total += size
        if size > settings.max_file_bytes:
            raise RequestTooLarge(
                f"{file.filename!r} has {size} bytes; the limit is {settings.max_file_bytes}"
            )
    if total > settings.max_request_bytes:
        raise RequestTooLarge(f"{total} bytes in all; the limit is {settings.max_request_bytes}")


async def accept_upload(
    files: Sequence[Part],
    idempotency_key: str | None,
    storage: ObjectStore,
    settings: Settings,
    owner: str | None = None,
    hook: Subscriber | None = None,
) -> Upload:
    """Check, spool and store the files as one upload owned by `owner`, its terminal events
    going to `hook` (or return the owner's upload made earlier with the key)."""
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
        raise InvalidInput("The idempotency key must have 1 to 255 characters")
    check_limits(files, settings)
    if idempotency_key is not None and owner is not None:
        # Keys are per principal: another principal's key never returns its upload.
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        idempotency_key = f"{owner}:{digest}"
    if idempotency_key is not None:
        existing = await find_idempotent(idempotency_key, settings)
        if existing is not None:
            return existing
    incoming: list[IncomingFile] = []
    try:
        for file in files:
            incoming.append(await spool(file, storage, settings))
    except BaseException:
        discard(incoming)
        raise
    try:
        row = await create_upload(incoming, idempotency_key, storage, settings, hook)
    except StorageUnavailable as exc:
        message = without_paths(str(exc))
        raise StorageFailed(f"{message}; nothing was stored: send the upload again") from None
    if owner is not None and row.owner is None:
        await Upload.filter(id=row.id, owner__isnull=True).update(
            owner=owner, revision=F("revision") + 1
        )
        row.owner = owner
    UPLOADS_CREATED.inc()
    DOCUMENTS_CREATED.inc(row.document_count)
    return row


async def find_idempotent(key: str, settings: Settings) -> Upload | None:
    """The upload made with this key within the idempotency TTL; an older one lets go of it."""
    existing = await Upload.get_or_none(idempotency_key=key)
    if existing is None:
        return None
    if existing.created_at >= datetime.now(UTC) - timedelta(seconds=settings.idempotency_ttl):
        return existing
    # The key is unique: the expired upload drops it so a new upload can take it.
    await Upload.filter(id=existing.id, idempotency_key=key).update(idempotency_key=None)
    logger.info("idempotency key of upload %s expired", existing.id)
    return None


async def _insert(
    upload_id: UUID,
    key: str | None,
    docs: list[Document],
    hook: Subscriber | None,
    skipped: list[Skipped],
) -> tuple[Upload, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    async with in_transaction():
        upload = await Upload.create(
            id=upload_id,
            idempotency_key=key,
            document_count=len(docs),
            webhook_url=hook.url if hook else None,
            public_base=hook.public_base if hook else None,
            skipped_entries=[entry.as_dict() for entry in skipped],
        )
        await Document.bulk_create(docs)
        for doc in docs:
            if doc.status == Status.FAILED:
                events.append(
                    await append_event(
                        upload_id,
                        EventKind.DOCUMENT_FAILED,
                        document_id=str(doc.id),
                        document_status=Status.FAILED.value,
                        pages_done=0,
                        page_count=None,
                        error_code=str(doc.error_code),
                    )
                )
    return upload, events


async def _forget_quietly(storage: ObjectStore, upload_id: UUID) -> None:
    try:
        await forget(storage, upload_id)
    except Exception:
        # The error that brought us here is the one to raise; this one is only logged.
        logger.warning("could not remove the files of refused upload %s", upload_id, exc_info=True)


async def create_upload(
    files: list[IncomingFile],
    idempotency_key: str | None,
    storage: ObjectStore,
    settings: Settings,
    hook: Subscriber | None = None,
) -> Upload:
    """Store the files and their rows in one go, queue conversions, and return at once."""
    plan = Plan([], [])
    try:
        if idempotency_key is not None:
            existing = await find_idempotent(idempotency_key, settings)
            if existing is not None:
                return existing
        work = tmp_dir(storage)
        # One thread hop for the whole batch: a hop per file costs more than small files do.
        plan = await asyncio.to_thread(plan_files, files, settings, work)
        upload_id = uuid4()
        try:
            docs = await place(plan.documents, upload_id, storage, settings)
            upload, events = await _insert(upload_id, idempotency_key, docs, hook, plan.skipped)
        except BaseException as exc:
            # Whatever failed (the database gone, the disk full), no file stays without a row.
            await _forget_quietly(storage, upload_id)
            if isinstance(exc, IntegrityError) and idempotency_key is not None:
                # Two requests raced with one key: the first committed wins.
                existing = await find_idempotent(idempotency_key, settings)
                if existing is not None:
                    return existing
            raise
    finally:
        discard(files)
        for item in plan.documents:
            if item.source is not None:
                item.source.unlink(missing_ok=True)
    await publish(upload_id, events)
    pending = [doc.id for doc in docs if doc.status == Status.PENDING]
    if pending:
        await enqueue_documents(pending)
    else:
        await finish_upload(upload_id)
    logger.info("upload %s: %d documents, %d queued", upload_id, len(docs), len(pending))
    return await Upload.get(id=upload_id)
