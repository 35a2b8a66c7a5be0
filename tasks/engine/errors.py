"""Typed conversion failures: the error codes, and which of them a retry may cure."""

from __future__ import annotations

import errno
import re
import zipfile
import zlib

# A conversion killed or crashed may succeed on another attempt (another worker, more memory).
RETRIABLE = frozenset({"RESOURCE_LIMIT", "WORKER_CRASHED"})
# Typed outcomes of a child that stayed sane: checks on the input, not failures of the child.
KEEP_AFTER = frozenset(
    {"UNSUPPORTED_FORMAT", "CORRUPT_FILE", "ENCRYPTED_PDF", "TOO_LARGE", "STORAGE_FULL"}
)
STORAGE_FULL_MESSAGE = "the storage volume is full: no space left for the pages"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_TEXT = "No space left on device"  # libvips and ImageMagick report it as text
# Everything zipfile raises on a damaged or hostile archive.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
              NotImplementedError, RuntimeError, zlib.error)  # fmt: skip


# An absolute path with at least one directory (URLs and relative names do not match).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"<>|/]+/)+([^\s'\"<>|/]*)")


def without_paths(text: str) -> str:
    """The message with every absolute path cut to its last part: clients see messages,
    and the server's directories are none of their business."""
    return ABSOLUTE_PATH.sub(lambda match: match.group(1) or "...", text)


class ConversionError(Exception):
    """A typed failure; `code` is one of ErrorCode's values; the message names no path."""

    def __init__(self, code: str, message: str) -> None:
        message = without_paths(message)
        super().__init__(message)
        self.code = code
        self.message = message


def disk_full(exc: BaseException) -> bool:
    """True when an error means the volume (or the quota) is full."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    return DISK_FULL_TEXT in str(exc)
