"""Bulk conversion end to end: 1000-file batches, zip safety, archives, idempotency, dedupe
and cancel, against real API and worker processes (Redis mode and the embedded default)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from PIL import Image

from client.graphql import multipart_form
from tests.e2e.client import (
    CREATE,
    PREFLIGHT,
    create_upload,
    execute,
    get_upload,
    nobody_converts,
    subscribe,
    wait_terminal,
)
from tests.e2e.conftest import many_page_pdf
from tests.e2e.harness import Cluster
from tests.fixtures.zips import explorer_zip, finder_zip, infozip_zip, sevenzip_zip, zeros_bomb
from tests.waiting import eventually

logger = logging.getLogger(__name__)

PING = "query { ping }"
CANCEL = "mutation($id: ID!) { cancelUpload(id: $id) { id status } }"
BATCH = 1000
DISTINCT = 20


def tiny_image(n: int) -> tuple[str, bytes]:
    """A distinct 8x8 image: PNG for even n, JPEG for odd n."""
    image = Image.new("RGB", (8, 8), (n % 256, (n // 256) * 40 % 256, 90))
    buffer = io.BytesIO()
    if n % 2:
        image.save(buffer, "JPEG", quality=90)
        return f"img/{n:04d}.jpg", buffer.getvalue()
    image.save(buffer, "PNG")
    return f"img/{n:04d}.png", buffer.getvalue()


def zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries:
            zf.writestr(name, content)
    return buffer.getvalue()


def multipart(files: list[tuple[str, bytes]], key: str | None = None) -> dict[str, Any]:
    return {
        "data": multipart_form(CREATE, len(files), key),
        "files": [(str(i), (name, content)) for i, (name, content) in enumerate(files)],
        "headers": PREFLIGHT,
    }


async def post_upload(cluster: Cluster, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=300) as http:
        response = await http.post(cluster.graphql_url, **multipart(files))
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"]["createUpload"])


class RssSampler:
    """Peak resident memory of one process, sampled in a thread while a request runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = False

    def run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop = True


def api_process(cluster: Cluster) -> int:
    """The pid of the process serving HTTP (uvicorn runs inside `pagemill serve`)."""
    assert cluster.api is not None
    return cluster.api.pid


async def timed_ping(cluster: Cluster) -> float:
    start = time.perf_counter()
    await execute(cluster.graphql_url, PING)
    return time.perf_counter() - start


async def test_thousand_files_are_accepted_without_blocking_other_clients(
    distributed: Cluster,
) -> None:
    await _accept_thousand_files(distributed, "distributed")


async def test_thousand_files_are_accepted_without_blocking_other_clients_embedded(
    embedded: Cluster,
) -> None:
    await _accept_thousand_files(embedded, "embedded")


async def _accept_thousand_files(cluster: Cluster, mode: str) -> None:
    files = [tiny_image(n) for n in range(BATCH)]
    sampler = RssSampler(api_process(cluster))
    sampling = asyncio.create_task(asyncio.to_thread(sampler.run))
    baseline = await timed_ping(cluster)

    start = time.perf_counter()
    upload_task = asyncio.create_task(post_upload(cluster, files))
    await asyncio.sleep(0)  # let the upload start sending before the first ping
    pings: list[tuple[float, bool]] = []
    while not upload_task.done():
        latency = await timed_ping(cluster)
        pings.append((latency, upload_task.done()))
    created = await upload_task
    duration = time.perf_counter() - start
    sampler.stop()
    await sampling

    during = [latency for latency, after in pings if not after]
    logger.warning(
        "%s: createUpload of %d files took %.2f s; peak API RSS %.1f MiB; ping %.3f s idle, "
        "%d pings during the upload, slowest %.3f s",
        mode,
        BATCH,
        duration,
        sampler.peak / 2**20,
        baseline,
        len(during),
        max(during, default=0.0),
    )
    # Pings answered while the request was still being received or stored, and each one in
    # a small fraction of the upload's own duration.
    assert during, "no ping completed while the upload was in flight"
    assert max(during) < duration / 4
    assert created["documentCount"] == BATCH
    assert [d["filename"] for d in created["documents"]] == [name for name, _ in files]
    # The request returned before conversions finished; stop them to free the workers.
    await execute(cluster.graphql_url, CANCEL, {"id": created["id"]})
    final = await wait_terminal(cluster.graphql_url, created["id"])
    assert final["status"] == "CANCELLED"


# A thousand documents take minutes on a busy two-core machine: past the suite's 300 s.
@pytest.mark.timeout(900)
async def test_thousand_file_finder_zip_and_pdfs_convert_end_to_end(
    distributed: Cluster, tmp_path: Path
) -> None:
    await _convert_thousand_entry_zip(distributed, "distributed", tmp_path, finder_zip, "Photos")


# A thousand documents take minutes on a busy two-core machine: past the suite's 300 s.
@pytest.mark.timeout(900)
async def test_thousand_file_explorer_zip_and_pdfs_convert_end_to_end_embedded(
    embedded: Cluster, tmp_path: Path
) -> None:
    await _convert_thousand_entry_zip(embedded, "embedded", tmp_path, explorer_zip, "Scans")


async def _convert_thousand_entry_zip(
    cluster: Cluster,
    mode: str,
    tmp_path: Path,
    archiver: Callable[[dict[str, bytes], str], bytes],
    folder: str,
) -> None:
    # Repeated content runs dedupe at scale: one conversion per distinct image, the rest
    # linked (each waiting copy is queued again until its source is done). The zip is made
    # the way a person's archiver makes it, with its metadata entries.
    contents = [tiny_image(n + 5000)[1] for n in range(DISTINCT)]
    entries = [
        (f"{folder}/img/{n:04d}.{'jpg' if n % 2 else 'png'}", contents[n % DISTINCT])
        for n in range(BATCH)
    ]
    archive = tmp_path / "batch.zip"
    archive.write_bytes(archiver({name[len(folder) + 1 :]: data for name, data in entries}, folder))
    pdfs = [many_page_pdf(tmp_path / f"doc{n}.pdf", n + 1, (300 + 50 * n, 400)) for n in range(3)]

    start = time.perf_counter()
    created = await create_upload(cluster.graphql_url, [archive, *pdfs])
    accepted = time.perf_counter() - start
    final = await wait_terminal(cluster.graphql_url, created["id"], timeout=600)
    total = time.perf_counter() - start
    logger.warning(
        "%s: zip of %d images + 3 PDFs accepted in %.2f s, converted in %.1f s",
        mode,
        BATCH,
        accepted,
        total,
    )

    assert final["status"] == "COMPLETED"
    docs = final["documents"]
    assert len(docs) == BATCH + 3
    assert [d["filename"] for d in docs[:BATCH]] == [name for name, _ in entries]
    assert [d["filename"] for d in docs[-3:]] == ["doc0.pdf", "doc1.pdf", "doc2.pdf"]
    assert all(d["status"] == "COMPLETED" for d in docs), [d for d in docs if d["errorCode"]]
    assert all(d["pages"][0]["width"] == 8 for d in docs[:BATCH])
    assert [d["pageCount"] for d in docs[-3:]] == [1, 2, 3]
    async with httpx.AsyncClient(timeout=60) as http:
        body = (await http.get(await _archive_url(cluster, final["id"]))).content
    with zipfile.ZipFile(io.BytesIO(body)) as listing:
        skipped = json.loads(listing.read("manifest.json"))["skipped"]
    # Finder: a resource fork per file, .DS_Store, folders; Explorer: Thumbs.db, desktop.ini.
    assert len(skipped) >= (BATCH if archiver is finder_zip else 3)
    assert not {e["filename"] for e in skipped} & {d["filename"] for d in docs}
    assert all(e["archive"] == "batch.zip" and e["reason"] for e in skipped)
    logger.warning("%s: %d files converted, %d metadata entries skipped", mode, BATCH, len(skipped))
    converted = [d for d in docs[:BATCH] if d["deduplicatedFrom"] is None]
    assert len(converted) == DISTINCT
    by_id = {d["id"]: d for d in docs}
    for doc in docs[:BATCH]:
        if doc["deduplicatedFrom"] is not None:
            assert by_id[doc["deduplicatedFrom"]]["sha256"] == doc["sha256"]


async def test_unsafe_entries_fail_and_good_ones_convert(
    distributed: Cluster, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("good/a.png", tiny_image(0)[1])
        zf.writestr("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n")
        zf.writestr("nested.zip", zip_bytes([("inner.png", tiny_image(2)[1])]))
        link = zipfile.ZipInfo("link.png")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
        # 10 MB of zeros after a PNG header: deflates to ~10 KB, far past the ratio limit.
        zf.writestr("bomb.png", tiny_image(4)[1] + bytes(10 * 2**20))
        zf.writestr("good/b.jpg", tiny_image(1)[1])
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(buffer.getvalue())
    assert bundle.stat().st_size < 200_000

    created = await create_upload(distributed.graphql_url, [bundle])
    final = await wait_terminal(distributed.graphql_url, created["id"])

    docs = {d["filename"]: d for d in final["documents"]}
    assert set(docs) == {
        "good/a.png",
        "../../etc/passwd",
        "nested.zip",
        "link.png",
        "bomb.png",
        "good/b.jpg",
    }
    for name in ("../../etc/passwd", "nested.zip", "link.png"):
        assert (docs[name]["status"], docs[name]["errorCode"]) == ("FAILED", "UNSAFE_ARCHIVE")
    assert (docs["bomb.png"]["status"], docs["bomb.png"]["errorCode"]) == ("FAILED", "TOO_LARGE")
    for name in ("good/a.png", "good/b.jpg"):
        assert docs[name]["status"] == "COMPLETED" and docs[name]["pageCount"] == 1
    assert final["status"] == "COMPLETED"
    storage = Path(distributed.env["PAGEMILL_STORAGE_DIR"])
    assert not (storage.parent / "etc").exists() and not (storage / "etc").exists()
    written = sum(p.stat().st_size for p in (storage / "uploads" / final["id"]).rglob("*"))
    assert written < 2 * 2**20  # the bomb never reached the disk


async def test_a_thousand_entry_zip_of_zeros_stores_nothing(distributed: Cluster) -> None:
    bomb = zeros_bomb(entries=BATCH, size=2**20)  # 1000 MiB expanded
    storage = Path(distributed.env["PAGEMILL_STORAGE_DIR"])

    created = await post_upload(distributed, [("bomb.zip", bomb)])
    final = await wait_terminal(distributed.graphql_url, created["id"])

    folder = storage / "uploads" / final["id"]
    originals = sum(p.stat().st_size for p in folder.rglob("original.*"))
    written = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    logger.warning(
        "a %d-byte zip of %d MiB of zeros stored %d bytes of originals (%d in all, with the "
        "archive of its manifest)",
        len(bomb),
        BATCH,
        originals,
        written,
    )
    assert len(final["documents"]) == BATCH
    assert {d["errorCode"] for d in final["documents"]} == {"UNSUPPORTED_FORMAT"}
    assert final["status"] == "FAILED"
    assert originals == 0 and written < 2**20  # the archive of the manifest only


async def test_zips_from_every_archiver_keep_names_and_folders(distributed: Cluster) -> None:
    zips = [
        ("explorer.zip", explorer_zip({"Père Noël.png": tiny_image(10)[1]}, "Scans")),
        ("infozip.zip", infozip_zip({"Отчёт/страница.png": tiny_image(12)[1]}, windows=True)),
        ("7zip.zip", sevenzip_zip({"日本/写真.jpg": tiny_image(13)[1], "secret.png":
                                   tiny_image(14)[1]}, encrypted=frozenset({"secret.png"}))),
        ("zip64.zip", infozip_zip({"big/one.png": tiny_image(16)[1]}, zip64=True)),
    ]  # fmt: skip
    created = await post_upload(distributed, zips)
    final = await wait_terminal(distributed.graphql_url, created["id"])

    docs = {d["filename"]: d for d in final["documents"]}
    assert list(docs) == ["Scans/Père Noël.png", "Отчёт/страница.png", "日本/写真.jpg",
                          "secret.png", "big/one.png"]  # fmt: skip
    assert docs.pop("secret.png")["errorCode"] == "ENCRYPTED_DOCUMENT"
    assert {d["status"] for d in docs.values()} == {"COMPLETED"}


async def test_a_non_zip_named_zip_is_one_corrupt_document(distributed: Cluster) -> None:
    created = await post_upload(distributed, [("fake.zip", b"PK\x03\x04 not really a zip")])
    final = await wait_terminal(distributed.graphql_url, created["id"])
    [doc] = final["documents"]
    assert (doc["status"], doc["errorCode"]) == ("FAILED", "CORRUPT_FILE")
    assert final["status"] == "FAILED"


async def test_concurrent_identical_requests_with_one_key_make_one_upload(
    distributed: Cluster,
) -> None:
    files = [tiny_image(n + 7000) for n in range(3)]

    async def send() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=120) as http:
            response = await http.post(distributed.graphql_url, **multipart(files, key="batch-k"))
        return dict(response.json()["data"]["createUpload"])

    results = await asyncio.gather(*(send() for _ in range(4)))
    assert len({r["id"] for r in results}) == 1
    assert len({tuple(d["id"] for d in r["documents"]) for r in results}) == 1
    await wait_terminal(distributed.graphql_url, results[0]["id"])


async def test_same_pdf_twice_converts_once(distributed: Cluster, tmp_path: Path) -> None:
    pdf = many_page_pdf(tmp_path / "twenty.pdf", 20)
    first = await create_upload(distributed.graphql_url, [pdf])
    # The first conversion is under way before the duplicate arrives.
    await subscribe(distributed.ws_url, first["id"], after=0, stop_after=3)
    second = await create_upload(distributed.graphql_url, [pdf])
    events = await subscribe(distributed.ws_url, second["id"], after=0)
    a = await wait_terminal(distributed.graphql_url, first["id"])
    b = await wait_terminal(distributed.graphql_url, second["id"])

    (source,), (duplicate,) = a["documents"], b["documents"]
    assert source["status"] == duplicate["status"] == "COMPLETED"
    assert source["deduplicatedFrom"] is None
    assert duplicate["deduplicatedFrom"] == source["id"]
    assert duplicate["sha256"] == source["sha256"]
    assert duplicate["original"]["path"] != source["original"]["path"]
    assert len(duplicate["pages"]) == 20
    storage = Path(distributed.env["PAGEMILL_STORAGE_DIR"])
    async with httpx.AsyncClient(timeout=60) as http:
        for p, q in zip(source["pages"], duplicate["pages"], strict=True):
            assert p["id"] != q["id"] and p["path"] != q["path"]
            assert (await http.get(p["url"])).content == (await http.get(q["url"])).content
            # One rendering: the duplicate's page is the same file on disk.
            assert os.stat(storage / p["path"]).st_ino == os.stat(storage / q["path"]).st_ino
    kinds = [e["kind"] for e in events]
    assert kinds == ["DOCUMENT_STARTED"] + ["PAGE_DONE"] * 20 + ["DOCUMENT_DONE", "UPLOAD_DONE"]
    logs = distributed.log_tail(lines=100_000)
    assert f"document {duplicate['id']} reuses 20 pages of {source['id']}" in logs


async def test_cancel_stops_a_running_conversion(distributed: Cluster, tmp_path: Path) -> None:
    pdf = many_page_pdf(tmp_path / "fifty.pdf", 50, (1224, 1584))
    created = await create_upload(distributed.graphql_url, [pdf])
    seen = await subscribe(distributed.ws_url, created["id"], after=0, stop_after=4)
    assert sum(e["kind"] == "PAGE_DONE" for e in seen) >= 2
    busy = await _busy(_conversion_children(distributed))

    cancelled = await execute(distributed.graphql_url, CANCEL, {"id": created["id"]})
    cancelled_at = datetime.now(UTC)
    assert cancelled["cancelUpload"]["status"] == "CANCELLED"
    rest = await subscribe(distributed.ws_url, created["id"], after=seen[-1]["sequence"])

    # The children rendering the PDF's pages are killed; idle warm children of the workers
    # stay.
    assert busy, "no conversion child was running"
    await eventually(
        lambda: not any(child.is_running() for child in busy), 30, "conversion child to exit"
    )
    final = await get_upload(distributed.graphql_url, created["id"])
    assert final is not None and final["status"] == "CANCELLED"
    [doc] = final["documents"]
    assert (doc["status"], doc["errorCode"]) == ("CANCELLED", "CANCELLED")
    recorded = len(doc["pages"])
    assert recorded < 50
    assert [e["kind"] for e in rest][-2:] == ["DOCUMENT_FAILED", "UPLOAD_DONE"]
    # Nothing is recorded after the cancel, even once every worker has moved on.
    document_id = doc["id"]
    await eventually(
        lambda: nobody_converts(distributed.graphql_url, document_id, cancelled_at),
        30,
        "every worker to stop converting the cancelled PDF",
        distributed,
    )
    again = await get_upload(distributed.graphql_url, created["id"])
    assert again is not None and len(again["documents"][0]["pages"]) == recorded


async def _busy(children: list[psutil.Process]) -> list[psutil.Process]:
    """The children that spend CPU over a quarter of a second: those rendering pages."""

    def spent(child: psutil.Process) -> float:
        try:
            times = child.cpu_times()
        except psutil.Error:
            return -1.0
        return float(times.user + times.system + times.children_user + times.children_system)

    before = {child.pid: spent(child) for child in children}
    await asyncio.sleep(0.25)  # a sampling interval, not a wait for something
    return [child for child in children if spent(child) > before[child.pid] >= 0]


def _conversion_children(cluster: Cluster) -> list[psutil.Process]:
    found = []
    for worker in cluster.workers:
        try:
            for proc in psutil.Process(worker.pid).children(recursive=True):
                try:
                    if "tasks.sandbox.child" in " ".join(proc.cmdline()):
                        found.append(proc)
                except psutil.Error:
                    continue
        except psutil.Error:
            continue
    # The child runs in a session of its own but stays a child of its worker process.
    return found


async def test_archive_holds_every_page_and_a_manifest(
    distributed: Cluster, tmp_path: Path
) -> None:
    pdf = many_page_pdf(tmp_path / "report final.pdf", 3)
    image = tmp_path / "photo.png"
    Image.new("RGBA", (120, 80), (255, 0, 0, 128)).save(image)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    created = await create_upload(distributed.graphql_url, [pdf, image, text])
    final = await wait_terminal(distributed.graphql_url, created["id"])
    assert final["status"] == "COMPLETED"
    url = await _archive_url(distributed, final["id"])

    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert int(response.headers["content-length"]) == len(response.content)
        body = response.content
        ranged = await http.get(url, headers={"Range": "bytes=10-109"})
        assert ranged.status_code == 206
        assert ranged.content == body[10:110]
        assert ranged.headers["content-range"] == f"bytes 10-109/{len(body)}"
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            names = set(archive.namelist())
            by_id = {d["id"]: d for d in manifest["documents"]}
            expected_names = {"manifest.json"}
            for doc in final["documents"]:
                entry = by_id[doc["id"]]
                assert entry["filename"] == doc["filename"]
                assert entry["status"] == doc["status"]
                assert entry["error_code"] == doc["errorCode"]
                assert entry["sha256"] == doc["sha256"]
                assert len(entry["pages"]) == len(doc["pages"])
                for page, listed in zip(doc["pages"], entry["pages"], strict=True):
                    content = (await http.get(page["url"])).content
                    assert archive.read(listed["archive_path"]) == content
                    assert listed["size_bytes"] == len(content) == page["sizeBytes"]
                    assert (listed["width"], listed["height"]) == (page["width"], page["height"])
                    expected_names.add(listed["archive_path"])
            assert names == expected_names
    paths = sorted(names - {"manifest.json"})
    assert paths[0] == "0001-report_final/0001.png"
    assert "0002-photo/0001.png" in paths
    assert by_id[final["documents"][2]["id"]]["error_code"] == "UNSUPPORTED_FORMAT"
    assert manifest["upload_id"] == final["id"] and manifest["status"] == "COMPLETED"
    assert (
        hashlib.sha256(pdf.read_bytes()).hexdigest() == by_id[final["documents"][0]["id"]]["sha256"]
    )


async def _archive_url(cluster: Cluster, upload_id: str, timeout: float = 180) -> str:
    """The archive's URL, set once a task queued when the upload ended has written the file."""

    async def archived() -> str | None:
        upload = await get_upload(cluster.graphql_url, upload_id)
        return str(upload["archiveUrl"]) if upload is not None and upload["archiveUrl"] else None

    return await eventually(archived, timeout, f"the archive of {upload_id}", cluster)
