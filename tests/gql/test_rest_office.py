"""A zip of DOCX files through POST /api/v1/jobs: PDFs and pages in the zip match the status."""

from __future__ import annotations

import io
import json
import zipfile

import docx
import httpx
from docx.enum.section import WD_ORIENT

from tests.gql.support import data
from tests.gql.test_rest import download, post_job, wait_job

DOCUMENTS = 20
RENDITIONS = "query($id: ID!) { upload(id: $id) { documents { pdf { url contentType } } } }"


def _docx(number: int) -> bytes:
    """A distinct DOCX (no two deduplicate) of 1 to 3 pages; every fifth is landscape."""
    document = docx.Document()
    if number % 5 == 0:
        section = document.sections[0]
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    for page in range(1 + number % 3):
        document.add_heading(f"Document {number}, page {page + 1}", level=1)
        document.add_paragraph(f"Text of document {number}. " * 40)
        if page < number % 3:
            document.add_page_break()  # type: ignore[no-untyped-call]
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def test_zip_of_docx_files_converts_to_pdfs_and_pages(client: httpx.AsyncClient) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for number in range(DOCUMENTS):
            zf.writestr(f"letters/letter-{number:03d}.docx", _docx(number))
    created = (await post_job(client, [("letters.zip", archive.getvalue())])).json()
    assert created["file_count"] == DOCUMENTS
    job = await wait_job(client, created["job_id"], timeout=600)
    assert job["status"] == "COMPLETED", job
    files = job["files"]
    assert [len(f["pages"]) for f in files] == [1 + n % 3 for n in range(DOCUMENTS)]
    for number, file in enumerate(files):
        first = file["pages"][0]
        assert (first["width"] > first["height"]) == (number % 5 == 0)
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
