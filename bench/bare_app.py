"""The API benchmark's baseline: a bare FastAPI JSON endpoint reading the same rows as the
`upload(id)` status query (upload, documents, pages), with the same Tortoise setup and
served by one uvicorn process like `pagemill serve`.

    uvicorn bench.bare_app:create_app --factory --port 8001
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import FastAPI, HTTPException, Request
from tortoise.contrib.fastapi import RegisterTortoise

from models.db import tortoise_config
from models.upload import TERMINAL, Document, Page, Upload
from settings import get_settings


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def upload_status(upload_id: UUID, base: str) -> dict[str, Any] | None:
    """The same fields as the CLI's status query, read with three queries."""
    upload = await Upload.get_or_none(id=upload_id)
    if upload is None:
        return None
    documents = await Document.filter(upload_id=upload_id).order_by("index")
    pages = await Page.filter(document_id__in=[d.id for d in documents]).order_by("number")
    by_document: dict[Any, list[dict[str, Any]]] = {d.id: [] for d in documents}
    for page in pages:
        by_document[page.document_id].append(
            {
                "number": page.number,
                "width": page.width,
                "height": page.height,
                "url": f"{base}/files/{page.path}",
            }
        )
    terminal = upload.status in TERMINAL and upload.archive_path
    return {
        "id": str(upload.id),
        "status": upload.status.value,
        "documentCount": upload.document_count,
        "pageCount": sum(d.page_count or 0 for d in documents),
        "createdAt": _iso(upload.created_at),
        "finishedAt": _iso(upload.finished_at),
        "archiveUrl": f"{base}/files/{upload.archive_path}" if terminal else None,
        "documents": [
            {
                "id": str(d.id),
                "index": d.index,
                "filename": d.filename,
                "status": d.status.value,
                "pageCount": d.page_count,
                "errorCode": d.error_code.value if d.error_code else None,
                "errorMessage": d.error_message,
                "pages": by_document[d.id],
            }
            for d in documents
        ],
    }


def create_app() -> FastAPI:
    """The bare app, on the database pagemill's settings point at."""
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config(settings.db_url)):
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/uploads/{upload_id}")
    async def get_upload(upload_id: UUID, request: Request) -> dict[str, Any]:
        status = await upload_status(upload_id, str(request.base_url).rstrip("/"))
        if status is None:
            raise HTTPException(404)
        return {"data": {"upload": status}}

    return app
