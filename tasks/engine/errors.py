"""Typed conversion failures: the error codes, and which of them a retry may cure."""

from __future__ import annotations

import zipfile
import zlib

# A conversion killed or crashed may succeed on another attempt (another worker, more memory).
RETRIABLE = frozenset({"RESOURCE_LIMIT", "WORKER_CRASHED"})
# Typed outcomes of a child that stayed sane: checks on the input, not failures of the child.
KEEP_AFTER = frozenset({"UNSUPPORTED_FORMAT", "CORRUPT_FILE", "ENCRYPTED_PDF", "TOO_LARGE"})
# Everything zipfile raises on a damaged or hostile archive.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
              NotImplementedError, RuntimeError, zlib.error)  # fmt: skip


class ConversionError(Exception):
    """A typed failure; `code` is one of ErrorCode's values."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
