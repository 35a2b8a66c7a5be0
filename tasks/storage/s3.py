"""Object storage: an S3-compatible bucket (AWS, MinIO, Ceph, R2) through obstore."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit
from uuid import UUID

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from tasks.storage.backend import StorageUnavailable

if TYPE_CHECKING:
    from obstore.store import RetryConfig

# Parts of a multipart upload must be at least 5 MiB (but the last): 8 MiB buffers, two at a
# time, bound what one upload holds in memory.
PART_BYTES = 8 * 1024 * 1024
PART_CONCURRENCY = 2
FILE_CONCURRENCY = 4  # files of one upload in flight at once
READ_CHUNK = 1024 * 1024
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
# A bucket outage should fail a request in seconds, not in obstore's default three minutes.
RETRY: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=10)}
FAILURES = (BaseError, ConnectionError, TimeoutError, PermissionError)


def parse_url(url: str) -> tuple[str, str]:
    """Bucket and key prefix of an `s3://BUCKET[/PREFIX]` URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://BUCKET[/PREFIX] URL: {url!r}")
    return parts.netloc, parts.path.strip("/")


def _store(bucket: str, prefix: str, endpoint: str | None) -> S3Store:
    options: dict[str, Any] = {"bucket": bucket, "retry_config": RETRY}
    if prefix:
        options["prefix"] = prefix
    if endpoint:
        # MinIO and most S3-compatible servers answer path-style requests, often over plain HTTP.
        options.update(endpoint=endpoint, virtual_hosted_style_request=False)
        options["client_options"] = {"allow_http": endpoint.startswith("http://")}
    return S3Store(**options)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except FAILURES as exc:
        raise StorageUnavailable(f"object storage failed: {type(exc).__name__}") from exc


class S3Storage:
    """Files as objects of one bucket (under an optional prefix), shared by every host."""

    def __init__(
        self,
        url: str,
        *,
        scratch: Path,
        endpoint: str | None = None,
        public_endpoint: str | None = None,
        presign_seconds: float = 3600.0,
    ) -> None:
        bucket, prefix = parse_url(url)
        self.scratch = scratch
        self.store = _store(bucket, prefix, endpoint)
        # Presigned URLs are signed for the host the client will reach (SigV4 signs the host).
        self.signer = _store(bucket, prefix, public_endpoint) if public_endpoint else self.store
        self.presign = timedelta(seconds=presign_seconds)

    async def store_file(self, key: str, path: Path) -> None:
        """Put a local file under key (multipart past PART_BYTES); the local file is removed."""
        with _translated():
            await obstore.put_async(
                self.store, key, path, chunk_size=PART_BYTES, max_concurrency=PART_CONCURRENCY
            )
        path.unlink(missing_ok=True)

    async def store_files(self, items: list[tuple[str, Path]]) -> None:
        """Put several local files, a few at a time."""
        slots = asyncio.Semaphore(FILE_CONCURRENCY)

        async def one(key: str, path: Path) -> None:
            async with slots:
                await self.store_file(key, path)

        try:
            async with asyncio.TaskGroup() as group:
                for key, path in items:
                    group.create_task(one(key, path))
        except ExceptionGroup as failed:  # the others are cancelled: report the first
            raise failed.exceptions[0] from None

    async def fetch(self, key: str, target: Path) -> Path:
        """Download key into target, streamed."""
        with _translated():
            response = await obstore.get_async(self.store, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                async for chunk in response.stream(min_chunk_size=PART_BYTES):
                    await asyncio.to_thread(out.write, chunk)
        return target

    async def copy(self, source: str, target: str) -> None:
        """Server-side copy: no bytes pass through this process."""
        with _translated():
            await obstore.copy_async(self.store, source, target)

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every object under prefix, a thousand per request."""
        with _translated():
            async for batch in obstore.list(self.store, prefix, chunk_size=DELETE_BATCH):
                await obstore.delete_async(self.store, [meta["path"] for meta in batch])

    async def size(self, key: str) -> int | None:
        """The object's size, or None if there is none."""
        try:
            with _translated():
                return int((await obstore.head_async(self.store, key))["size"])
        except FileNotFoundError:
            return None

    async def download_url(self, key: str) -> str:
        """A presigned GET URL (Range requests work on it), valid for presign_seconds."""
        with _translated():
            return await obstore.sign_async(self.signer, "GET", key, self.presign)

    async def check(self) -> None:
        """One LIST request: fails when the bucket is missing, unreachable or refuses us."""
        with _translated():
            await obstore.list_with_delimiter_async(self.store, "uploads/")

    def read_chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes from one streamed GET (blocking: for worker threads)."""
        with _translated():
            yield from obstore.get(self.store, key).stream(min_chunk_size=READ_CHUNK)

    @contextmanager
    def open_writer(self, key: str) -> Iterator[BinaryIO]:
        """A blocking multipart writer; an exception inside the block aborts the upload."""
        with _translated():
            writer = obstore.open_writer(
                self.store, key, buffer_size=PART_BYTES, max_concurrency=PART_CONCURRENCY
            )
            with writer:
                yield cast(BinaryIO, writer)

    def local_path(self, key: str) -> None:
        """None: objects are downloaded through presigned URLs, never served by the API."""
        return None

    @asynccontextmanager
    async def workspace(self, upload_id: UUID, document_id: UUID) -> AsyncIterator[Path]:
        """A private temporary directory, removed afterwards."""
        root = self.scratch / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(dir=root, prefix=f"work-{document_id}-"))
        try:
            yield path
        finally:
            await asyncio.to_thread(shutil.rmtree, path, True)
