"""What intake works with: an uploaded file spooled to disk, and the documents it will become."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from models.upload import ErrorCode

CHUNK = 1024 * 1024
UNSUPPORTED = "Not a PDF, PNG, JPEG or office document (by content)"


@dataclass
class IncomingFile:
    """An uploaded file spooled under the storage root, not yet placed."""

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


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Skipped:
    """An archive entry that is archiver or system metadata, not a document."""

    archive: str
    filename: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """As stored with the upload and listed in its manifest."""
        return {"archive": self.archive, "filename": self.filename, "reason": self.reason}


@dataclass
class Plan:
    """What the files of one request become: documents, and the entries skipped."""

    documents: list[Planned]
    skipped: list[Skipped]
