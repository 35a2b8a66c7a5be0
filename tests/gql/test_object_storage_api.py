"""The API on object storage: originals go to the bucket, downloads redirect to presigned
URLs, and a bucket that does not answer refuses uploads with a typed error, storing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from models.upload import Document, Upload
from settings import get_settings
from tasks.storage import keys, open_storage
from tests.e2e.harness import free_port
from tests.gql.conftest import make_app
from tests.gql.support import data, upload
from tests.s3server import S3Server


@asynccontextmanager
async def _client(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(**settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_an_original_is_downloaded_from_the_bucket_by_redirect(
    db: str, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    url = f"s3://{s3_bucket}/api"
    async with _client(
        storage_url=url, s3_endpoint_url=s3_server.endpoint, storage_dir=tmp_path
    ) as client:
        body = (await upload(client, [("notes.txt", b"not a document")])).json()
        document = body["data"]["createUpload"]["documents"][0]
        assert document["errorCode"] == "UNSUPPORTED_FORMAT"
        redirect = await client.get(document["original"]["url"])
        ready = await client.get("/readyz")
    assert redirect.status_code == 307
    location = redirect.headers["location"]
    assert location.startswith(f"{s3_server.endpoint}/{s3_bucket}/api/uploads/")
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(location)).content == b"not a document"
    assert ready.json()["checks"]["storage"] == "ok"
    assert not list(tmp_path.glob("**/original.*"))  # the API host keeps no copy


async def test_a_bucket_outage_refuses_the_upload_and_stores_nothing(
    db: str, s3_server: S3Server, tmp_path: Path
) -> None:
    before = await Upload.all().count()
    dead = f"http://127.0.0.1:{free_port()}"
    async with _client(
        storage_url="s3://gone", s3_endpoint_url=dead, storage_dir=tmp_path
    ) as client:
        response = await upload(client, [("notes.txt", b"not a document")])
        ready = await client.get("/readyz")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "STORAGE_UNAVAILABLE"
    assert "send the upload again" in error["message"] and str(tmp_path) not in error["message"]
    assert await Upload.all().count() == before
    assert not list(tmp_path.glob("tmp/*"))  # the spooled request body is gone too
    assert ready.status_code == 503 and ready.json()["checks"]["storage"].startswith("error")


async def test_a_pdf_rendition_in_the_bucket_reports_its_size(
    db: str, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    settings = {"storage_url": f"s3://{s3_bucket}/pdf", "s3_endpoint_url": s3_server.endpoint}
    upload = await Upload.create(id=uuid4(), document_count=1)
    doc_id = uuid4()
    key = keys.document_prefix(upload.id, doc_id) + "document.pdf"
    rendition = tmp_path / "document.pdf"
    rendition.write_bytes(b"%PDF-1.4\n" + b"0" * 1000)
    await open_storage(get_settings().model_copy(update=settings)).store_file(key, rendition)
    await Document.create(
        id=doc_id, upload=upload, index=0, filename="a.docx", sha256="0" * 64, size_bytes=10,
        original_path=keys.original_key(upload.id, doc_id, "docx"), pdf_path=key,
    )  # fmt: skip
    query = "query($id: ID!) { document(id: $id) { pdf { path sizeBytes } } }"
    async with _client(**settings, storage_dir=tmp_path / "api") as client:
        pdf = (await data(client, query, {"id": str(doc_id)}))["document"]["pdf"]
    assert pdf == {"path": key, "sizeBytes": 1009}
