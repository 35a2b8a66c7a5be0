"""Files on a local directory (a shared volume in production): every path is built from ids,
never from client filenames."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from uuid import UUID

CHUNK = 1024 * 1024


class LocalStorage:
    """Files under one root directory, shared by API and workers (a volume in production)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.scratch = self.root  # spooled uploads go to root/tmp: placing one is a rename

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

    async def store_file(self, key: str, path: Path) -> None:
        """Move a local file under key (a rename: spooled files live on the same volume)."""
        await self.store_files([(key, path)])

    async def store_files(self, items: list[tuple[str, Path]]) -> None:
        """Move several local files under their keys in one thread hop."""
        await asyncio.to_thread(self._move_all, items)

    def _move_all(self, items: list[tuple[str, Path]]) -> None:
        for key, path in items:
            target = self.root / key
            if path.resolve() != target:  # pages a conversion wrote in place stay
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)

    async def fetch(self, key: str, target: Path) -> Path:
        """The stored file itself: no copy on a local volume."""
        found = self.resolve(key)
        if found is None:
            raise FileNotFoundError(key)
        return found

    async def copy(self, source: str, target: str) -> None:
        """A hard link (pages are never modified in place), a copy across devices."""
        await asyncio.to_thread(_link, self.root / source, self.root / target)

    async def delete_prefix(self, prefix: str) -> None:
        """Remove the directory a key prefix names."""
        await asyncio.to_thread(shutil.rmtree, self.root / prefix.rstrip("/"), True)

    async def size(self, key: str) -> int | None:
        """The file's size, or None if there is none."""
        found = self.resolve(key)
        return found.stat().st_size if found is not None else None

    async def download_url(self, key: str) -> None:
        """None: the API serves local files itself."""
        return None

    async def check(self) -> None:
        """Raise unless a file can be written under the root."""
        await asyncio.to_thread(self._probe)

    def _probe(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".ready-") as probe:
            probe.write(b"ok")
            probe.flush()

    def read_chunks(self, key: str) -> Iterator[bytes]:
        """The file's bytes, a megabyte at a time."""
        with (self.root / key).open("rb") as reader:
            while chunk := reader.read(CHUNK):
                yield chunk

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        """A partial file renamed to key once the block ends cleanly."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as writer:
                yield writer
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    @asynccontextmanager
    async def workspace(self, upload_id: UUID, document_id: UUID) -> AsyncIterator[Path]:
        """The document's own directory: pages are written in place."""
        yield self.document_dir(upload_id, document_id)

    def local_path(self, key: str) -> Path | None:
        """The file behind a key, for the API to serve."""
        return self.resolve(key)


def _link(source: Path, target: Path) -> None:
    # A hard link shares the bytes (pages are never modified in place); copy across devices.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.link")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(source, partial)
    os.replace(partial, target)
