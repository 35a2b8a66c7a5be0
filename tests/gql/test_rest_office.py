"""A zip of DOCX files through POST /api/v1/jobs: PDFs and pages in the zip match the status."""

from __future__ import annotations

import io
import json
import zipfile

import httpx

from tests.fixtures.office import is_landscape, letter_count, letters_zip
from tests.gql.support import data
from tests.gql.test_rest import download, post_job, wait_job

DOCUMENTS = 20
RENDITIONS = "query($id: ID!) { upload(id: $id) { documents { pdf { url contentType } } } }"


async def test_zip_of_docx_files_converts_to_pdfs_and_pages(client: httpx.AsyncClient) -> None:
    created = (await post_job(client, [("letters.zip", letters_zip(DOCUMENTS))])).json()
    assert created["file_count"] == DOCUMENTS
    job = await wait_job(client, created["job_id"], timeout=600)
    assert job["status"] == "COMPLETED", job
    files = job["files"]
    assert [len(f["pages"]) for f in files] == [letter_count(n) for n in range(DOCUMENTS)]
    for number, file in enumerate(files):
        first = file["pages"][0]
        assert (first["width"] > first["height"]) == is_landscape(number)
    zipped = await download(client, created["job_id"])
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as result:
        manifest = json.loads(result.read("manifest.json"))
        for file, entry in zip(files, manifest["documents"], strict=True):
            assert file["filename"] == entry["filename"]
            assert file["pdf_url"] is not None
            pdf = result.read(entry["pdf"])
            assert pdf.startswith(b"%PDF-")
            assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type/Page\n") in (
                0,
                len(file["pages"]),
            )
            pages = [(p["number"], p["width"], p["height"]) for p in entry["pages"]]
            assert pages == [(p["number"], p["width"], p["height"]) for p in file["pages"]]
            for page in entry["pages"]:
                assert result.read(page["archive_path"]).startswith(b"\x89PNG")
    found = await data(client, RENDITIONS, {"id": created["job_id"]})
    renditions = [doc["pdf"] for doc in found["upload"]["documents"]]
    assert [r["url"] for r in renditions] == [f["pdf_url"] for f in files]
    assert {r["contentType"] for r in renditions} == {"application/pdf"}
