"""The S3 backend against a real S3 API (moto's server on loopback)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from tasks.storage import keys
from tasks.storage.backend import StorageUnavailable
from tasks.storage.s3 import PART_BYTES, S3Storage, parse_url
from tests.e2e.harness import free_port
from tests.s3server import S3Server


@pytest.fixture
async def store(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> AsyncIterator[S3Storage]:
    """A backend on the run's bucket under a prefix of its own, emptied afterwards."""
    prefix = f"t-{uuid4().hex[:8]}"
    backend = S3Storage(f"s3://{s3_bucket}/{prefix}", scratch=tmp_path, endpoint=s3_server.endpoint)
    yield backend
    await backend.delete_prefix("")


def _file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_large_file_goes_up_in_parts_and_comes_back_whole(
    store: S3Storage, s3_server: S3Server, tmp_path: Path
) -> None:
    source = tmp_path / "big.pdf"
    digest = _file(source, 2 * PART_BYTES + 1234)
    key = keys.original_key(uuid4(), uuid4(), "pdf")
    before = len(s3_server.requests())
    await store.store_file(key, source)
    parts = [line for line in s3_server.requests()[before:] if "partNumber=" in line]
    assert not source.exists()  # consumed
    assert len(parts) == 3
    fetched = await store.fetch(key, tmp_path / "back.pdf")
    assert _sha(fetched) == digest
    assert await store.size(key) == 2 * PART_BYTES + 1234


async def test_copy_makes_a_second_object_without_a_download(
    store: S3Storage, s3_server: S3Server, tmp_path: Path
) -> None:
    source = tmp_path / "page.png"
    digest = _file(source, 50_000)
    upload, first, second = uuid4(), uuid4(), uuid4()
    await store.store_file(keys.page_key(upload, first, 1), source)
    before = len(s3_server.requests())
    await store.copy(keys.page_key(upload, first, 1), keys.page_key(upload, second, 1))
    assert not any('"GET ' in line for line in s3_server.requests()[before:])
    copied = await store.fetch(keys.page_key(upload, second, 1), tmp_path / "copy.png")
    assert _sha(copied) == digest


async def test_presigned_url_serves_ranges(store: S3Storage, tmp_path: Path) -> None:
    source = tmp_path / "page.png"
    source.write_bytes(bytes(range(256)) * 4)
    key = keys.page_key(uuid4(), uuid4(), 7)
    await store.store_file(key, source)
    url = await store.download_url(key)
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=10-19"})
    assert whole.status_code == 200 and len(whole.content) == 1024
    assert part.status_code == 206 and part.content == bytes(range(10, 20))


async def test_presigned_url_is_signed_for_the_public_endpoint(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")
    backend = S3Storage(
        f"s3://{s3_bucket}/p", scratch=tmp_path, endpoint=s3_server.endpoint, public_endpoint=public
    )
    source = tmp_path / "a.png"
    source.write_bytes(b"png bytes")
    await backend.store_file("uploads/a/b/pages/0001.png", source)
    url = await backend.download_url("uploads/a/b/pages/0001.png")
    assert url.startswith(f"{public}/{s3_bucket}/p/uploads/a/b/pages/0001.png?")
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"png bytes"
    await backend.delete_prefix("")


async def test_delete_prefix_removes_one_upload_only(store: S3Storage, tmp_path: Path) -> None:
    gone, kept = uuid4(), uuid4()
    for upload in (gone, kept):
        for number in (1, 2):
            page = tmp_path / f"{upload}-{number}.png"
            page.write_bytes(b"x")
            await store.store_file(keys.page_key(upload, uuid4(), number), page)
    await store.delete_prefix(keys.upload_prefix(gone))
    with pytest.raises(FileNotFoundError):
        await store.fetch(keys.archive_key(gone), tmp_path / "none")
    remaining = [meta async for batch in _listing(store) for meta in batch]
    assert len(remaining) == 2 and all(str(kept) in m for m in remaining)


async def _listing(store: S3Storage) -> AsyncIterator[list[str]]:
    import obstore

    async for batch in obstore.list(store.store, "uploads/"):
        yield [meta["path"] for meta in batch]


async def test_writer_streams_a_zip_and_a_failed_one_leaves_nothing(
    store: S3Storage, tmp_path: Path
) -> None:
    key = keys.archive_key(uuid4())
    with store.open_writer(key) as out, zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.json", "{}")
        archive.writestr("0001-a/0001.png", os.urandom(PART_BYTES + 10))
    names = zipfile.ZipFile(io.BytesIO(b"".join(store.read_chunks(key)))).namelist()
    assert names == ["manifest.json", "0001-a/0001.png"]
    broken = keys.archive_key(uuid4())
    with pytest.raises(RuntimeError), store.open_writer(broken) as out:
        out.write(os.urandom(PART_BYTES + 10))
        raise RuntimeError("the zip could not be finished")
    assert await store.size(broken) is None


async def test_an_unreachable_bucket_gives_typed_errors(tmp_path: Path) -> None:
    dead = S3Storage("s3://nowhere", scratch=tmp_path, endpoint=f"http://127.0.0.1:{free_port()}")
    source = tmp_path / "a.pdf"
    source.write_bytes(b"%PDF-1.4")
    with pytest.raises(StorageUnavailable):
        await dead.store_file("uploads/a/b/original.pdf", source)
    assert source.exists()  # nothing lost: the caller still has the bytes
    with pytest.raises(StorageUnavailable):
        await dead.check()


async def test_a_missing_bucket_fails_the_check(s3_server: S3Server, tmp_path: Path) -> None:
    missing = S3Storage("s3://no-such-bucket", scratch=tmp_path, endpoint=s3_server.endpoint)
    with pytest.raises(StorageUnavailable):
        await missing.check()


async def test_workspace_is_private_and_removed(store: S3Storage) -> None:
    async with store.workspace(uuid4(), uuid4()) as work:
        (work / "pages").mkdir()
        (work / "pages" / "0001.png").write_bytes(b"x")
        assert store.scratch in work.parents
    assert not work.exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [("s3://bucket", ("bucket", "")), ("s3://bucket/a/b/", ("bucket", "a/b"))],
)
def test_storage_url_names_bucket_and_prefix(url: str, expected: tuple[str, str]) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("key", "public"),
    [
        ("uploads/u/d/pages/0001.png", True),
        ("uploads/../pagemill.sqlite3", False),
        ("uploads//x", False),
        ("tmp/in-1", False),
        ("uploads/u/./d", False),
        ("uploads/u\\d", False),
    ],
)
def test_only_well_formed_upload_keys_are_public(key: str, public: bool) -> None:
    assert keys.is_public(key) is public


async def test_several_files_go_up_together(store: S3Storage, tmp_path: Path) -> None:
    upload, document = uuid4(), uuid4()
    items = []
    for number in range(1, 7):
        page = tmp_path / f"{number}.png"
        page.write_bytes(bytes([number]) * 100)
        items.append((keys.page_key(upload, document, number), page))
    await store.store_files(items)
    for key, _ in items:
        assert await store.size(key) == 100
    assert not any(path.exists() for _, path in items)
