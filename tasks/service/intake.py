"""Intake: store uploaded files under ids, expand zips safely, create rows, queue conversions."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.progress import append_event
from models.storage import LocalStorage
from models.upload import Document, ErrorCode, EventKind, Status, Upload
from settings import Settings
from tasks.convert import enqueue_documents, finish_upload, publish
from tasks.dedupe import fingerprint
from tasks.office import CONTENT_TYPES, CONVERTIBLE, EXTENSIONS, sniff_path

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
HEAD = 4096
UNSUPPORTED = "Not a PDF, PNG, JPEG or office document (by content)"
# Small entries may compress extremely well for honest reasons; judge the ratio past this size.
RATIO_FLOOR = 1024 * 1024
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
              NotImplementedError, zlib.error, RuntimeError)  # fmt: skip


class TooLarge(Exception):
    """A file passed max_file_bytes while it was being stored."""


class Readable(Protocol):
    filename: str | None
    file: BinaryIO


@dataclass
class IncomingFile:
    filename: str
    path: Path  # a temporary file under the storage root, moved into place by create_upload
    size: int
    sha256: str | None = None


@dataclass
class Planned:
    """One future document: where its bytes are now, what they are, or why it failed."""

    filename: str
    source: Path | None
    size: int
    sha256: str
    kind: str | None
    error: tuple[ErrorCode, str] | None = None


def tmp_dir(storage: LocalStorage) -> Path:
    """Scratch space on the storage volume, so moving files into place is a rename."""
    path = storage.root / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def spool(upload: Readable, storage: LocalStorage, settings: Settings) -> IncomingFile:
    """Copy one multipart file part under the storage root, hashing and counting its bytes."""
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
                    raise TooLarge(
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_office(path: Path) -> bool:
    # OOXML and ODF files are zips too, but they are documents, not archives to expand.
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist()[:50])
    except ZIP_ERRORS:
        return False
    return "[Content_Types].xml" in names or "mimetype" in names


def plan_file(file: IncomingFile, settings: Settings, work: Path) -> list[Planned]:
    """The documents one uploaded file becomes (several for a zip)."""
    kind = sniff_path(file.path)
    if kind == "zip" and not _is_office(file.path):
        return expand_zip(file, settings, work)
    sha = file.sha256 or _sha256(file.path)
    planned = Planned(file.filename, file.path, file.size, sha, kind)
    if kind not in CONVERTIBLE:
        planned.error = (ErrorCode.UNSUPPORTED_FORMAT, UNSUPPORTED)
    return [planned]


def plan_files(files: list[IncomingFile], settings: Settings, work: Path) -> list[Planned]:
    """The documents of every uploaded file, in upload order."""
    planned: list[Planned] = []
    try:
        for file in files:
            planned += plan_file(file, settings, work)
    except BaseException:
        for item in planned:
            if item.source is not None:
                item.source.unlink(missing_ok=True)
        raise
    return planned


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return ".." in parts or "\x00" in name


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def expand_zip(file: IncomingFile, settings: Settings, work: Path) -> list[Planned]:
    """Each entry of a zip as a document; unsafe or oversized entries fail, others convert."""
    try:
        with zipfile.ZipFile(file.path) as zf:
            return _entries(zf, file, settings, work)
    except ZIP_ERRORS as exc:
        sha = file.sha256 or _sha256(file.path)
        message = f"Not a readable zip archive: {exc}"
        return [
            Planned(
                file.filename, file.path, file.size, sha, "zip", (ErrorCode.CORRUPT_FILE, message)
            )
        ]


def _entries(
    zf: zipfile.ZipFile, file: IncomingFile, settings: Settings, work: Path
) -> list[Planned]:
    infos = [info for info in zf.infolist() if not info.is_dir()]
    if not infos:
        error = (ErrorCode.UNSUPPORTED_FORMAT, "The zip archive holds no files")
        return [Planned(file.filename, None, 0, "", None, error)]
    budget = settings.max_zip_bytes
    planned: list[Planned] = []
    for info in infos[: settings.max_zip_entries]:
        entry = _entry(zf, info, settings, work, budget)
        budget -= entry.size
        planned.append(entry)
    extra = len(infos) - settings.max_zip_entries
    if extra > 0:
        message = f"{extra} entries past the limit of {settings.max_zip_entries} were not taken"
        name = f"{file.filename} (+{extra} entries)"
        planned.append(Planned(name, None, 0, "", None, (ErrorCode.TOO_LARGE, message)))
    file.path.unlink(missing_ok=True)
    return planned


def _entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, settings: Settings, work: Path, budget: int
) -> Planned:
    name = info.filename
    if _unsafe_name(name):
        return Planned(
            name,
            None,
            0,
            "",
            None,
            (ErrorCode.UNSAFE_ARCHIVE, "Absolute path or '..' in the entry name"),
        )
    if _is_symlink(info):
        return Planned(name, None, 0, "", None, (ErrorCode.UNSAFE_ARCHIVE, "Symbolic link entry"))
    if info.flag_bits & 0x1:
        return Planned(
            name, None, 0, "", None, (ErrorCode.ENCRYPTED_DOCUMENT, "Encrypted zip entry")
        )
    if budget <= 0:
        return Planned(
            name,
            None,
            0,
            "",
            None,
            (
                ErrorCode.TOO_LARGE,
                f"The archive is over its total size limit of {settings.max_zip_bytes} bytes "
                f"({settings.max_zip_bytes - budget} bytes in earlier entries)",
            ),
        )
    planned = _extract(zf, info, work, min(budget, settings.max_file_bytes), settings.max_zip_ratio)
    if planned.error is None and planned.source is not None:
        planned.kind = sniff_path(planned.source)
        if planned.kind == "zip" and not _is_office(planned.source):
            planned.error = (ErrorCode.UNSAFE_ARCHIVE, "Nested archives are not expanded")
        elif planned.kind not in CONVERTIBLE:
            planned.error = (ErrorCode.UNSUPPORTED_FORMAT, UNSUPPORTED)
    return planned


def _extract(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, work: Path, limit: int, ratio: float
) -> Planned:
    # Declared sizes are never trusted: count the bytes as they come out.
    fd, tmp = tempfile.mkstemp(dir=work, prefix="zip-")
    digest, size = hashlib.sha256(), 0
    error: tuple[ErrorCode, str] | None = None
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    error = (
                        ErrorCode.TOO_LARGE,
                        f"Entry has more than {limit} bytes, the size limit "
                        f"({size} extracted when it was stopped)",
                    )
                    break
                if size > RATIO_FLOOR and size > ratio * max(info.compress_size, 1):
                    actual = size / max(info.compress_size, 1)
                    error = (
                        ErrorCode.TOO_LARGE,
                        f"Entry compression ratio over the limit of {ratio:g} "
                        f"(at least {actual:.0f})",
                    )
                    break
                digest.update(chunk)
                out.write(chunk)
    except ZIP_ERRORS as exc:
        error = (ErrorCode.CORRUPT_FILE, f"Unreadable zip entry: {exc}")
    if error is not None:
        os.unlink(tmp)
        return Planned(info.filename, None, 0, "", None, error)
    return Planned(info.filename, Path(tmp), size, digest.hexdigest(), None)


def place(
    planned: list[Planned], upload_id: UUID, storage: LocalStorage, settings: Settings
) -> list[Document]:
    """Move each planned file to its final path and build (unsaved) Document rows."""
    now = datetime.now(UTC)
    settings_fingerprint = fingerprint(settings)
    docs: list[Document] = []
    for index, item in enumerate(planned, start=1):
        doc_id = uuid4()
        kind = item.kind if item.kind in EXTENSIONS else None
        target = storage.original_path(upload_id, doc_id, EXTENSIONS[kind] if kind else "bin")
        if item.source is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item.source, target)
            item.source = None
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
                original_path=storage.relative(target),
                error_code=item.error[0] if item.error else None,
                error_message=item.error[1] if item.error else None,
                finished_at=now if failed else None,
                created_at=now,
                settings_fingerprint=None if failed else settings_fingerprint,
            )
        )
    return docs


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
    upload_id: UUID, key: str | None, docs: list[Document]
) -> tuple[Upload, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    async with in_transaction():
        upload = await Upload.create(id=upload_id, idempotency_key=key, document_count=len(docs))
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


async def create_upload(
    files: list[IncomingFile],
    idempotency_key: str | None,
    storage: LocalStorage,
    settings: Settings,
) -> Upload:
    """Store the files and their rows in one go, queue conversions, and return at once."""
    planned: list[Planned] = []
    try:
        if idempotency_key is not None:
            existing = await find_idempotent(idempotency_key, settings)
            if existing is not None:
                return existing
        work = tmp_dir(storage)
        # One thread hop for the whole batch: a hop per file costs more than small files do.
        planned = await asyncio.to_thread(plan_files, files, settings, work)
        upload_id = uuid4()
        docs = await asyncio.to_thread(place, planned, upload_id, storage, settings)
        try:
            upload, events = await _insert(upload_id, idempotency_key, docs)
        except IntegrityError:
            shutil.rmtree(storage.upload_dir(upload_id), ignore_errors=True)
            if idempotency_key is not None:
                # Two requests raced with one key: the first committed wins.
                existing = await find_idempotent(idempotency_key, settings)
                if existing is not None:
                    return existing
            raise
    finally:
        discard(files)
        for item in planned:
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
