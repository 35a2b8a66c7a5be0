"""Files on a local directory (a shared volume in production): every path is built from ids,
never from client filenames."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from uuid import UUID


class LocalStorage:
    """Files under one root directory, shared by API and workers (a volume in production)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def upload_dir(self, upload_id: UUID) -> Path:
        """Directory of one upload (and its archive)."""
        return self.root / "uploads" / str(upload_id)

    def document_dir(self, upload_id: UUID, document_id: UUID) -> Path:
        """Directory of one document: its original and its pages."""
        return self.upload_dir(upload_id) / str(document_id)

    def original_path(self, upload_id: UUID, document_id: UUID, ext: str) -> Path:
        """Where the original bytes of a document are stored."""
        return self.document_dir(upload_id, document_id) / f"original.{ext}"

    def pages_dir(self, upload_id: UUID, document_id: UUID) -> Path:
        """Directory holding a document's rendered pages."""
        return self.document_dir(upload_id, document_id) / "pages"

    def relative(self, path: Path) -> str:
        """The storage-relative POSIX path the API shows for a file."""
        return path.resolve().relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path | None:
        """The file behind a storage-relative path, or None if it would leave the root."""
        parts = PurePosixPath(relative).parts
        if not parts or relative.startswith("/") or any(p in ("..", "") for p in parts):
            return None
        if any("\x00" in p or "\\" in p for p in parts):
            return None
        candidate = self.root.joinpath(*parts)
        real = Path(os.path.realpath(candidate))
        if real != self.root and self.root not in real.parents:
            return None
        return real if real.is_file() else None
