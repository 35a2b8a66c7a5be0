"""200 DOCX files in one zip through the REST face, against two real worker processes in Redis
mode, each with its warm LibreOffice: every PDF and page in the job's zip matches its status."""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pikepdf
import psutil

from tests.e2e.harness import Cluster
from tests.fixtures.office import is_landscape, letter_count, letters_zip
from tests.gql.support import data
from tests.gql.test_rest import TERMINAL, download, post_job
from tests.waiting import eventually

DOCUMENTS = 200
POLL_SECONDS = 2.0
SIZES = """query($id: ID!) { upload(id: $id) { documents {
  pdf { sizeBytes } pages { number sizeBytes } } } }"""


async def _wait_job(client: httpx.AsyncClient, job_id: str, timeout: float) -> dict[str, Any]:
    # A status of 200 files is costly to build: polled every 0.1 s it would take a core
    # from the workers it waits for.
    async def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        return job if job["status"] in TERMINAL else None

    return await eventually(finished, timeout, f"job {job_id} to finish", interval=POLL_SECONDS)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _pdf_pages(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return len(document.pages)


async def test_zip_of_200_docx_files_gives_every_pdf_and_page(office_cluster: Cluster) -> None:
    async with httpx.AsyncClient(base_url=office_cluster.url, timeout=120) as client:
        response = await post_job(client, [("letters.zip", letters_zip(DOCUMENTS))])
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = await _wait_job(client, job_id, timeout=480)
        zipped = (await download(client, job_id)).content
        sizes = (await data(client, SIZES, {"id": job_id}))["upload"]["documents"]

    assert job["status"] == "COMPLETED", office_cluster.log_tail()
    files: list[dict[str, Any]] = job["files"]
    assert [f["filename"] for f in files] == [
        f"letters/letter-{n:03d}.docx" for n in range(DOCUMENTS)
    ]
    assert all(f["status"] == "COMPLETED" and f["pdf_url"] for f in files), files
    assert [len(f["pages"]) for f in files] == [letter_count(n) for n in range(DOCUMENTS)]
    with zipfile.ZipFile(io.BytesIO(zipped)) as result:
        manifest = json.loads(result.read("manifest.json"))
        expected = {"manifest.json"}
        for number, (file, entry, size) in enumerate(
            zip(files, manifest["documents"], sizes, strict=True)
        ):
            assert entry["filename"] == file["filename"]
            assert entry["pdf"] == f"{entry['index']:04d}-letter-{number:03d}/document.pdf"
            pdf = result.read(entry["pdf"])
            assert len(pdf) == size["pdf"]["sizeBytes"]
            assert _pdf_pages(pdf) == len(file["pages"])
            expected.add(entry["pdf"])
            listed = [(p["number"], p["width"], p["height"]) for p in file["pages"]]
            assert [(p["number"], p["width"], p["height"]) for p in entry["pages"]] == listed
            for page, stored in zip(entry["pages"], size["pages"], strict=True):
                png = result.read(page["archive_path"])
                assert _png_size(png) == (page["width"], page["height"])
                assert len(png) == page["size_bytes"] == stored["sizeBytes"]
                expected.add(page["archive_path"])
            first = file["pages"][0]
            assert (first["width"] > first["height"]) == is_landscape(number)
        assert set(result.namelist()) == expected
    assert len(expected) == 1 + DOCUMENTS + sum(letter_count(n) for n in range(DOCUMENTS))


async def test_stopped_workers_leave_no_libreoffice_and_no_profile(
    office_cluster: Cluster,
) -> None:
    # Runs last: it stops the module's cluster.
    async with httpx.AsyncClient(base_url=office_cluster.url, timeout=120) as client:
        response = await post_job(client, [("more.zip", letters_zip(4, first=DOCUMENTS))])
        job = await _wait_job(client, response.json()["job_id"], timeout=120)
    assert job["status"] == "COMPLETED"
    workers = [psutil.Process(proc.pid) for proc in office_cluster.workers]
    descendants = [child for worker in workers for child in worker.children(recursive=True)]
    office = [p for p in descendants if _is_office(p)]
    assert [p for p in office if p.name() == "soffice.bin"]
    processes = {p.pid for p in descendants if not _is_office(p)}
    office_cluster.stop()
    assert [p.pid for p in office if _alive(p)] == []
    left = [
        path
        for pid in processes
        for path in Path(tempfile.gettempdir()).glob(f"pagemill-office-{pid}-*")
    ]
    assert left == []


def _is_office(process: psutil.Process) -> bool:
    try:
        return process.name() == "soffice.bin" or "office_bridge.py" in " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return False


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
