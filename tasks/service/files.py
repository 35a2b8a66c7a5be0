"""Uploaded files on their way in: spooled to scratch space while hashed and counted, planned
as documents (zips expanded), then stored under their final keys."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol
from uuid import UUID, uuid4

from models.upload import Document, ErrorCode, Status
from settings import Settings
from tasks.engine.kinds import (
    CONTENT_TYPES,
    CONVERTIBLE,
    EXTENSIONS,
    is_office_container,
    sniff_path,
)
from tasks.service.dedupe import fingerprint
from tasks.service.errors import RequestTooLarge
from tasks.service.planned import CHUNK, UNSUPPORTED, IncomingFile, Plan, Planned, sha256_of
from tasks.service.zip_rules import RequestBudget
from tasks.service.zips import expand_zip
from tasks.storage import ObjectStore, keys

logger = logging.getLogger(__name__)


class Readable(Protocol):
    """A multipart file part: its name as the client gave it, and its bytes."""

    @property
    def filename(self) -> str | None: ...

    @property
    def file(self) -> BinaryIO: ...


def tmp_dir(storage: ObjectStore) -> Path:
    """Scratch space (on the storage volume with local files, so placing one is a rename)."""
    path = storage.scratch / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def spool(upload: Readable, storage: ObjectStore, settings: Settings) -> IncomingFile:
    """Copy one multipart file part to scratch space, hashing and counting its bytes."""
    filename = upload.filename or "unnamed"
    directory = tmp_dir(storage)
    return await asyncio.to_thread(_copy, upload.file, filename, directory, settings.max_file_bytes)


def _copy(src: BinaryIO, filename: str, directory: Path, limit: int) -> IncomingFile:
    src.seek(0)
    fd, name = tempfile.mkstemp(dir=directory, prefix="in-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise RequestTooLarge(
                        f"{filename!r} has more than {limit} bytes, the limit "
                        f"({size} received when it was cut off)"
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    return IncomingFile(filename, Path(name), size, digest.hexdigest())


def discard(files: list[IncomingFile]) -> None:
    """Remove temporary files that were not moved into place."""
    for file in files:
        file.path.unlink(missing_ok=True)


def plan_file(file: IncomingFile, settings: Settings, work: Path, request: RequestBudget) -> Plan:
    """The documents one uploaded file becomes (several for a zip)."""
    kind = sniff_path(file.path)
    if kind == "zip" and not is_office_container(file.path):
        return expand_zip(file, settings, work, request)
    sha = file.sha256 or sha256_of(file.path)
    planned = Planned(file.filename, file.path, file.size, sha, kind)
    if kind not in CONVERTIBLE:
        planned.error = (ErrorCode.UNSUPPORTED_FORMAT, UNSUPPORTED)
    return Plan([planned], [])


def plan_files(files: list[IncomingFile], settings: Settings, work: Path) -> Plan:
    """The documents of every uploaded file, in upload order, and the entries skipped."""
    plan = Plan([], [])
    request = RequestBudget(settings.max_expanded_bytes)
    try:
        for file in files:
            one = plan_file(file, settings, work, request)
            plan.documents += one.documents
            plan.skipped += one.skipped
    except BaseException:
        for item in plan.documents:
            if item.source is not None:
                item.source.unlink(missing_ok=True)
        raise
    return plan


async def place(
    planned: list[Planned], upload_id: UUID, storage: ObjectStore, settings: Settings
) -> list[Document]:
    """Store each planned file under its final key and build (unsaved) Document rows; on a
    failure nothing of the upload stays stored."""
    docs = documents_of(planned, upload_id, settings)
    moves = [
        (doc.original_path, item.source)
        for doc, item in zip(docs, planned, strict=True)
        if item.source is not None
    ]
    try:
        await storage.store_files(moves)
    except BaseException:
        await forget(storage, upload_id)
        raise
    for item in planned:
        item.source = None
    return docs


async def forget(storage: ObjectStore, upload_id: UUID) -> None:
    """Remove whatever was stored for an upload that is not going to exist."""
    try:
        await asyncio.shield(storage.delete_prefix(keys.upload_prefix(upload_id)))
    except Exception:
        logger.warning("could not remove the files of refused upload %s", upload_id, exc_info=True)


def documents_of(planned: list[Planned], upload_id: UUID, settings: Settings) -> list[Document]:
    """The (unsaved) Document rows of planned files, each original under its final key."""
    now = datetime.now(UTC)
    settings_fingerprint = fingerprint(settings)
    docs: list[Document] = []
    for index, item in enumerate(planned, start=1):
        doc_id = uuid4()
        kind = item.kind if item.kind in EXTENSIONS else None
        target = keys.original_key(upload_id, doc_id, EXTENSIONS[kind] if kind else "bin")
        failed = item.error is not None
        docs.append(
            Document(
                id=doc_id,
                upload_id=upload_id,
                index=index,
                filename=item.filename,
                status=Status.FAILED if failed else Status.PENDING,
                content_type=CONTENT_TYPES.get(kind) if kind else None,
                size_bytes=item.size,
                sha256=item.sha256,
                original_path=target,
                error_code=item.error[0] if item.error else None,
                error_message=item.error[1] if item.error else None,
                finished_at=now if failed else None,
                created_at=now,
                settings_fingerprint=None if failed else settings_fingerprint,
            )
        )
    return docs
