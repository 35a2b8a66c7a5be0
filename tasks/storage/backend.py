"""What the service needs from a file store, satisfied by the local and the S3 backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol
from uuid import UUID


class StorageUnavailable(Exception):
    """The store did not answer or refused a request (after the client's own retries)."""


class ObjectStore(Protocol):
    """Files by key (`uploads/<upload>/<document>/...`), local or in a bucket."""

    scratch: Path  # this process's private local space (spooled uploads, work directories)

    async def store_file(self, key: str, path: Path) -> None:
        """Put a local file's bytes under key; the local file is consumed."""
        ...

    async def store_files(self, items: list[tuple[str, Path]]) -> None:
        """store_file for several (key, path) pairs."""
        ...

    async def fetch(self, key: str, target: Path) -> Path:
        """A local file with the bytes under key (target, or the stored file itself)."""
        ...

    async def copy(self, source: str, target: str) -> None:
        """Make target hold the bytes of source, without moving them through this process."""
        ...

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every file whose key starts with prefix."""
        ...

    async def size(self, key: str) -> int | None:
        """The size of the file under key, or None if there is none."""
        ...

    async def download_url(self, key: str) -> str | None:
        """A presigned URL for key, or None when the API serves the bytes itself."""
        ...

    async def check(self) -> None:
        """Raise unless the store accepts requests."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file the API serves itself for key, or None (then it redirects)."""
        ...

    def read_chunks(self, key: str) -> Iterator[bytes]:
        """The bytes under key, chunk by chunk (blocking: for worker threads)."""
        ...

    def open_writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A blocking writer whose bytes appear under key only once it closes cleanly."""
        ...

    def workspace(self, upload_id: UUID, document_id: UUID) -> AbstractAsyncContextManager[Path]:
        """A local directory laid out like the document's keys, for a conversion to fill."""
        ...
