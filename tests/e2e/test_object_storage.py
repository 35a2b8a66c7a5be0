"""Object storage end to end: an API and two workers that share no disk, only PostgreSQL,
Redis and one bucket on a real S3 API (moto's server on loopback)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REDIS_TEST_URL, RUN_ID
from tests.e2e.client import create_upload, get_upload, wait_terminal
from tests.e2e.conftest import _base_env, _database, _prefix, many_page_pdf
from tests.e2e.harness import Cluster, cluster_env, kill_worker
from tests.s3server import S3Server
from tests.waiting import eventually


@pytest.fixture(scope="module")
async def s3_pg_url() -> AsyncIterator[str]:
    """The object-storage cluster's own database."""
    async with _database(f"pagemill_s3_{RUN_ID}") as url:
        yield url


@pytest.fixture(scope="module")
def bucket_cluster(
    s3_pg_url: str, s3_server: S3Server, s3_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """API + two workers on one bucket, each process with a private storage dir of its own."""
    root = tmp_path_factory.mktemp("s3")
    env = _base_env(
        root / "api",
        PAGEMILL_REDIS_URL=REDIS_TEST_URL,
        PAGEMILL_DATABASE_URL=s3_pg_url,
        PAGEMILL_REDIS_PREFIX=_prefix("s3"),
        PAGEMILL_STORAGE_URL=f"s3://{s3_bucket}/e2e",
        PAGEMILL_S3_ENDPOINT_URL=s3_server.endpoint,
    )
    with cluster_env(env, root) as cluster:
        cluster.run("migrate")
        cluster.start_api()
        for n in range(2):
            cluster.start_worker(env={"PAGEMILL_STORAGE_DIR": str(root / f"worker{n}")})
        yield cluster


def _zip_of(paths: list[Path], target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in paths:
            archive.write(path, f"inner/{path.name}")
    return target


async def _download(http: httpx.AsyncClient, url: str, s3: S3Server) -> bytes:
    redirect = await http.get(url)
    assert redirect.status_code in (302, 307), redirect.text
    location = redirect.headers["location"]
    assert location.startswith(f"{s3.endpoint}/")
    response = await http.get(location)
    assert response.status_code == 200
    return response.content


async def _with_archive(cluster: Cluster, upload_id: str) -> dict[str, Any]:
    """The terminal upload once its archive is built (a task queued when it went terminal)."""
    await wait_terminal(cluster.graphql_url, upload_id)

    async def archived() -> dict[str, Any] | None:
        upload = await get_upload(cluster.graphql_url, upload_id)
        return upload if upload is not None and upload["archiveUrl"] else None

    return await eventually(archived, 30, f"the archive of {upload_id}", cluster)


def _pages(upload: dict[str, Any]) -> list[dict[str, Any]]:
    return [page for doc in upload["documents"] for page in doc["pages"]]


async def test_pages_originals_and_archive_download_from_the_bucket(
    bucket_cluster: Cluster, s3_server: S3Server, samples: dict[str, Path], tmp_path: Path
) -> None:
    bundle = _zip_of([samples["png"], samples["pdf"]], tmp_path / "bundle.zip")
    files = [samples["pdf"], samples["png"], bundle]
    created = await create_upload(bucket_cluster.graphql_url, files)
    upload = await _with_archive(bucket_cluster, created["id"])

    assert upload["status"] == "COMPLETED"
    names = [d["filename"] for d in upload["documents"]]
    assert names == ["mixed.pdf", "alpha.png", "inner/alpha.png", "inner/mixed.pdf"]
    assert [d["pageCount"] for d in upload["documents"]] == [3, 1, 1, 3]
    async with httpx.AsyncClient(timeout=60) as http:
        for page in _pages(upload):
            body = await _download(http, page["url"], s3_server)
            assert body.startswith(b"\x89PNG") and len(body) == page["sizeBytes"]
        first = upload["documents"][0]
        original = await _download(http, first["original"]["url"], s3_server)
        assert original == samples["pdf"].read_bytes()
        location = (await http.get(first["pages"][0]["url"])).headers["location"]
        ranged = await http.get(location, headers={"Range": "bytes=0-7"})
        assert ranged.status_code == 206 and ranged.content == b"\x89PNG\r\n\x1a\n"
        archive = await _download(http, upload["archiveUrl"], s3_server)
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert names[0] == "manifest.json" and len(names) == 1 + 8
    for root in ("api", "worker0", "worker1"):  # nothing of the upload stays on a host's disk
        assert not list((bucket_cluster.logs / root).glob(f"**/{created['id']}*"))


async def test_a_worker_killed_mid_document_loses_no_page(
    bucket_cluster: Cluster, s3_server: S3Server, tmp_path: Path
) -> None:
    pdf = many_page_pdf(tmp_path / "long.pdf", 24)
    created = await create_upload(bucket_cluster.graphql_url, [pdf])
    document = created["documents"][0]["id"]
    holder = await _holder_after_some_pages(bucket_cluster, created["id"], document)
    kill_worker(holder)

    upload = await wait_terminal(bucket_cluster.graphql_url, created["id"])
    assert upload["status"] == "COMPLETED" and upload["pageCount"] == 24
    pages = _pages(upload)
    assert [p["number"] for p in pages] == list(range(1, 25))
    async with httpx.AsyncClient(timeout=60) as http:
        for page in pages:
            body = await _download(http, page["url"], s3_server)
            assert len(body) == page["sizeBytes"]


async def _holder_after_some_pages(cluster: Cluster, upload_id: str, document: str) -> Any:
    """The worker converting the document (the one with its work directory), once some of
    its pages are recorded."""

    async def holder() -> Any:
        upload = await get_upload(cluster.graphql_url, upload_id)
        assert upload is not None
        if len(_pages(upload)) >= 3:
            for n, proc in enumerate(cluster.workers):
                work = cluster.logs / f"worker{n}" / "tmp"
                if proc.poll() is None and list(work.glob(f"work-{document}-*")):
                    return proc
        return None

    return await eventually(holder, 60, f"a worker seen converting {document}", cluster)
