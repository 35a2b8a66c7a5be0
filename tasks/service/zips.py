"""A zip expanded safely: each file a person put in it becomes a document; archiver and
system metadata is skipped (and listed); unsafe, encrypted, nested, oversized or unsupported
entries fail on their own and the good ones are converted. Declared sizes are never trusted,
and an entry is stored only once its first bytes say it may be a document."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO

from models.upload import ErrorCode
from settings import Settings
from tasks.engine.errors import ZIP_ERRORS, disk_full
from tasks.engine.kinds import CONVERTIBLE, OLE2_MAGIC, sniff, sniff_path
from tasks.service.planned import (
    CHUNK,
    UNSUPPORTED,
    IncomingFile,
    Plan,
    Planned,
    Skipped,
    sha256_of,
)
from tasks.service.zip_rules import (
    ArchiveBudget,
    RequestBudget,
    display_name,
    entry_name,
    is_encrypted,
    is_symlink,
    is_unsafe,
    skip_reason,
)

HEAD = 4096
DOCUMENT_HEADS = ("pdf", "png", "jpeg", "zip")  # zip: an office document, or a nested archive


def expand_zip(file: IncomingFile, settings: Settings, work: Path, request: RequestBudget) -> Plan:
    """The documents and skipped entries of one zip; an unreadable zip is one document."""
    try:
        with zipfile.ZipFile(file.path) as zf:
            plan = _entries(zf, file, settings, work, request)
    except ZIP_ERRORS as exc:
        if disk_full(exc):
            raise
        sha = file.sha256 or sha256_of(file.path)
        error = (ErrorCode.CORRUPT_FILE, f"Not a readable zip archive: {exc}")
        return Plan([Planned(file.filename, file.path, file.size, sha, "zip", error)], [])
    file.path.unlink(missing_ok=True)
    return plan


def _entries(
    zf: zipfile.ZipFile,
    file: IncomingFile,
    settings: Settings,
    work: Path,
    request: RequestBudget,
) -> Plan:
    budget = ArchiveBudget(file.size, settings.max_zip_ratio, settings.max_zip_bytes, request)
    plan = Plan([], [])
    extra = 0
    try:
        for info in zf.infolist():
            name = entry_name(info, settings.zip_legacy_encoding)
            reason = skip_reason(info, name)
            if reason is not None:  # never a document, and not counted against the limit
                plan.skipped.append(Skipped(file.filename, display_name(name) or name, reason))
            elif len(plan.documents) >= settings.max_zip_entries:
                extra += 1
            else:
                plan.documents.append(_entry(zf, info, name, settings, work, budget))
    except BaseException:
        for item in plan.documents:
            if item.source is not None:
                item.source.unlink(missing_ok=True)
        raise
    if extra:
        message = f"{extra} entries past the limit of {settings.max_zip_entries} were not taken"
        error = (ErrorCode.TOO_LARGE, message)
        plan.documents.append(
            Planned(f"{file.filename} (+{extra} entries)", None, 0, "", None, error)
        )
    elif not plan.documents:
        error = (ErrorCode.UNSUPPORTED_FORMAT, "The zip archive holds no files")
        plan.documents.append(Planned(file.filename, None, 0, "", None, error))
    return plan


def _entry(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    settings: Settings,
    work: Path,
    budget: ArchiveBudget,
) -> Planned:
    # An unsafe name is shown as it was written: it says why the entry failed.
    shown = name if is_unsafe(name) else display_name(name) or name

    def failed(code: ErrorCode, message: str) -> Planned:
        return Planned(shown, None, 0, "", None, (code, message))

    if is_unsafe(name):
        return failed(ErrorCode.UNSAFE_ARCHIVE, "Absolute path or '..' in the entry name")
    if is_symlink(info):
        return failed(ErrorCode.UNSAFE_ARCHIVE, "Symbolic link entry")
    if is_encrypted(info):
        return failed(ErrorCode.ENCRYPTED_DOCUMENT, "Encrypted zip entry (it needs a password)")
    if info.file_size > settings.max_file_bytes:
        return failed(
            ErrorCode.TOO_LARGE,
            f"Entry declares {info.file_size} bytes; the limit is {settings.max_file_bytes}",
        )
    if (why := budget.exhausted) is not None:
        return failed(ErrorCode.TOO_LARGE, f"Not expanded: {why}")
    planned = _extract(zf, info, shown, work, settings.max_file_bytes, budget)
    if planned.error is None and planned.source is not None:
        planned.kind = sniff_path(planned.source)
        if planned.kind == "zip":
            planned.error = (ErrorCode.UNSAFE_ARCHIVE, "Nested archives are not expanded")
        elif planned.kind not in CONVERTIBLE:
            planned.error = (ErrorCode.UNSUPPORTED_FORMAT, UNSUPPORTED)
    return planned


def may_be_document(head: bytes) -> bool:
    """True when an entry's first bytes may start a PDF, image or office document."""
    return sniff(head) in DOCUMENT_HEADS or head.startswith((OLE2_MAGIC, b"{\\rtf"))


def _extract(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    shown: str,
    work: Path,
    limit: int,
    budget: ArchiveBudget,
) -> Planned:
    fd, tmp = tempfile.mkstemp(dir=work, prefix="zip-")
    digest, size = hashlib.sha256(), 0
    error: tuple[ErrorCode, str] | None = None
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            chunk = _head(src)
            if not may_be_document(chunk):
                error = (ErrorCode.UNSUPPORTED_FORMAT, f"{UNSUPPORTED}; not extracted")
            while chunk and error is None:
                error = _over(size + len(chunk), limit, budget.take(len(chunk)))
                size += len(chunk)
                if error is None:
                    digest.update(chunk)
                    out.write(chunk)
                    chunk = src.read(CHUNK)
    except ZIP_ERRORS as exc:
        os.unlink(tmp)
        if disk_full(exc):
            raise
        budget.give_back(size)
        return Planned(shown, None, 0, "", None, (ErrorCode.CORRUPT_FILE, f"Unreadable: {exc}"))
    if error is not None:
        os.unlink(tmp)
        budget.give_back(size)
        return Planned(shown, None, 0, "", None, error)
    return Planned(shown, Path(tmp), size, digest.hexdigest(), None)


def _over(size: int, limit: int, budget_says: str | None) -> tuple[ErrorCode, str] | None:
    if size > limit:
        return ErrorCode.TOO_LARGE, f"Entry has more than {limit} bytes, the size limit"
    if budget_says is not None:
        return ErrorCode.TOO_LARGE, f"Entry stopped at {size} bytes: {budget_says}"
    return None


def _head(src: IO[bytes]) -> bytes:
    """The entry's first HEAD bytes (fewer when it is shorter)."""
    head = b""
    while len(head) < HEAD and (more := src.read(HEAD - len(head))):
        head += more
    return head
