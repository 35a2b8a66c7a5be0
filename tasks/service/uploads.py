"""What GraphQL and REST share: accept files as an upload, cancel an upload."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from uuid import UUID

from starlette.datastructures import UploadFile

from gql.errors import BadUserInput, PayloadTooLarge
from gql.files import DOCUMENTS_CREATED, UPLOADS_CREATED
from models import upload as m
from models.storage import LocalStorage
from settings import Settings
from tasks import intake, pipeline
from tasks.convert import archive_upload, publish


def check_limits(files: Sequence[UploadFile], settings: Settings) -> None:
    """Refuse the whole request before anything is stored (PAYLOAD_TOO_LARGE)."""
    if not files:
        raise BadUserInput("`files` must not be empty")
    if len(files) > settings.max_files:
        raise PayloadTooLarge(f"{len(files)} files; at most {settings.max_files} per request")
    total = 0
    for file in files:
        size = file.size or 0
        total += size
        if size > settings.max_file_bytes:
            raise PayloadTooLarge(
                f"{file.filename!r} has {size} bytes; the limit is {settings.max_file_bytes}"
            )
    if total > settings.max_request_bytes:
        raise PayloadTooLarge(f"{total} bytes in all; the limit is {settings.max_request_bytes}")


async def accept_upload(
    files: Sequence[UploadFile],
    idempotency_key: str | None,
    storage: LocalStorage,
    settings: Settings,
    owner: str | None = None,
) -> m.Upload:
    """Check, spool and store the files as one upload owned by `owner` (or return the
    owner's upload made earlier with the key)."""
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
        raise BadUserInput("The idempotency key must have 1 to 255 characters")
    check_limits(files, settings)
    if idempotency_key is not None and owner is not None:
        # Keys are per principal: another principal's key never returns its upload.
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()
        idempotency_key = f"{owner}:{digest}"
    if idempotency_key is not None:
        existing = await intake.find_idempotent(idempotency_key, settings)
        if existing is not None:
            return existing
    incoming: list[intake.IncomingFile] = []
    try:
        for file in files:
            incoming.append(await intake.spool(file, storage, settings))
    except intake.TooLarge as exc:
        intake.discard(incoming)
        raise PayloadTooLarge(str(exc)) from None
    except BaseException:
        intake.discard(incoming)
        raise
    row = await intake.create_upload(incoming, idempotency_key, storage, settings)
    if owner is not None and row.owner is None:
        await m.Upload.filter(id=row.id, owner__isnull=True).update(owner=owner)
        row.owner = owner
    UPLOADS_CREATED.inc()
    DOCUMENTS_CREATED.inc(row.document_count)
    return row


async def cancel_upload(upload_id: UUID) -> m.Upload | None:
    """Cancel the open documents of an upload; None if the upload is unknown."""
    if not await m.Upload.exists(id=upload_id):
        return None
    events = await pipeline.cancel_upload(upload_id)
    await publish(upload_id, events)
    if any(e["kind"] == m.EventKind.UPLOAD_DONE for e in events):
        await archive_upload.kiq(str(upload_id))
    return await m.Upload.get(id=upload_id)
