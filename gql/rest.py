"""The REST face for job-style clients: /api/v1/jobs over the same service as GraphQL.

`python -m gql.openapi_export` prints its OpenAPI document (openapi.json; see gql.openapi).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, File, Form, Header, Path, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from gql.context import base_url_of, file_url
from gql.errors import NotFound, rejections
from gql.multipart import limited_form_route
from gql.openapi import PREFLIGHT_HEADER, problem_responses
from gql.principals import Principal, owner_filter
from gql.problems import NOT_READY, problem
from gql.security import request_principal
from models import upload as m
from settings import Settings
from tasks.service import intake, uploads, webhooks
from tasks.storage import ObjectStore

PREFIX = "/api/v1"
JobId = Annotated[UUID, Path(description="The job id (the upload's id in GraphQL)")]
BINARY = {"type": "string", "format": "binary"}
# What the form says a callback URL looks like, so generated clients and fuzzers send URLs; the
# service still checks the scheme, the host and where it resolves.
PORT_PATTERN = (
    r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
)
CALLBACK_URL_PATTERN = rf"^(https?://[A-Za-z0-9.-]+(:{PORT_PATTERN})?(/[!-~]*)?)?$"


class JobCreated(BaseModel):
    job_id: UUID
    file_count: int = Field(description="Documents the job holds (zips count their entries)")
    status_url: str


class PageOut(BaseModel):
    number: int
    width: int
    height: int
    url: str


class FileOut(BaseModel):
    filename: str
    status: m.Status
    error_code: m.ErrorCode | None
    error_message: str | None
    pdf_url: str | None = Field(description="PDF rendition of an office document, else null")
    pages: list[PageOut]


class JobOut(BaseModel):
    job_id: UUID
    status: m.Status
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = Field(description="Zip of all pages; null until terminal")
    files: list[FileOut]


def build_router(settings: Settings, storage: ObjectStore) -> APIRouter:
    """Routes under /api/v1."""
    router = APIRouter(prefix=PREFIX, tags=["jobs"], route_class=limited_form_route(settings))

    def job_url(request: Request, upload_id: UUID, suffix: str = "") -> str:
        return f"{base_url_of(request, settings)}{PREFIX}/jobs/{upload_id}{suffix}"

    @router.post(
        "/jobs",
        status_code=202,
        response_model=JobCreated,
        responses=problem_responses(400, 401, 413, 503, 507),
        summary="Upload files (or one zip) as a job",
        operation_id="create_job",
        openapi_extra={"parameters": [PREFLIGHT_HEADER]},
    )
    async def create_job(
        request: Request,
        files: Annotated[
            list[UploadFile],
            File(
                description="PDF, PNG, JPEG, office or zip",
                min_length=1,
                json_schema_extra={"items": BINARY},  # FastAPI says contentMediaType only
            ),
        ],
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
        ] = None,
        callback_url: Annotated[
            str,
            Form(
                description="Receives the job's signed completion event (Standard Webhooks)",
                pattern=CALLBACK_URL_PATTERN,
            ),
        ] = "",
    ) -> JobCreated:
        principal = request_principal(request, settings)
        owner = principal.owner if principal else None
        with rejections():
            hook = await webhooks.subscriber(
                callback_url or None, base_url_of(request, settings), settings
            )
            row = await intake.accept_upload(files, idempotency_key, storage, settings, owner, hook)
        return JobCreated(
            job_id=row.id, file_count=row.document_count, status_url=job_url(request, row.id)
        )

    @router.get(
        "/jobs/{job_id}",
        response_model=JobOut,
        responses=problem_responses(400, 401, 404, 503),
        summary="Job status",
        operation_id="get_job",
    )
    async def get_job(request: Request, job_id: JobId) -> JobOut:
        row = await _upload(job_id, request_principal(request, settings))
        return await _job(row, request, job_url(request, row.id, "/download"))

    @router.get(
        "/jobs/{job_id}/download",
        response_class=FileResponse,
        responses={
            200: {"content": {"application/zip": {"schema": BINARY}}, "description": "The zip"},
            307: {"description": "With object storage: the zip's presigned URL"},
            **problem_responses(400, 401, 404, 409, 503),
        },
        summary="Download the zip of all pages (with manifest.json)",
        operation_id="download_job",
    )
    async def download_job(request: Request, job_id: JobId) -> Response:
        row = await _upload(job_id, request_principal(request, settings))
        path = row.archive_path if m.Status(row.status) in m.TERMINAL else None
        url = await storage.download_url(path) if path else None
        if url is not None:
            return RedirectResponse(url, status_code=307)
        archive = storage.local_path(path) if path else None
        if archive is None or not archive.is_file():
            return problem(
                409,
                NOT_READY,
                f"Job {row.id} is {row.status}: its zip is not ready yet",
                headers={"Retry-After": "1"},
            )
        return FileResponse(archive, media_type="application/zip", filename=f"job-{row.id}.zip")

    @router.delete(
        "/jobs/{job_id}",
        response_model=JobOut,
        responses=problem_responses(400, 401, 404, 503),
        summary="Cancel a job",
        operation_id="cancel_job",
    )
    async def cancel_job(request: Request, job_id: JobId) -> JobOut:
        visible = owner_filter(request_principal(request, settings))
        row = await uploads.cancel(job_id, visible)
        if row is None:
            raise NotFound(f"No job {job_id}")
        return await _job(row, request, job_url(request, row.id, "/download"))

    async def _job(row: m.Upload, request: Request, download_url: str) -> JobOut:
        base = base_url_of(request, settings)
        documents = await m.Document.filter(upload_id=row.id).order_by("index")
        pages = await m.Page.filter(document__upload_id=row.id).order_by("number")
        by_document: dict[UUID, list[PageOut]] = {}
        for page in pages:
            by_document.setdefault(UUID(str(page.document_id)), []).append(
                PageOut(
                    number=page.number,
                    width=page.width,
                    height=page.height,
                    url=file_url(base, page.path),
                )
            )
        return JobOut(
            job_id=row.id,
            status=m.Status(row.status),
            created_at=row.created_at,
            finished_at=row.finished_at,
            download_url=download_url if m.Status(row.status) in m.TERMINAL else None,
            files=[_file(doc, base, by_document.get(doc.id, [])) for doc in documents],
        )

    return router


async def _upload(upload_id: UUID, principal: Principal | None) -> m.Upload:
    row = await m.Upload.get_or_none(owner_filter(principal), id=upload_id)
    if row is None:
        raise NotFound(f"No job {upload_id}")
    return row


def _file(doc: m.Document, base: str, pages: list[PageOut]) -> FileOut:
    return FileOut(
        filename=doc.filename,
        status=m.Status(doc.status),
        error_code=m.ErrorCode(doc.error_code) if doc.error_code else None,
        error_message=doc.error_message,
        pdf_url=file_url(base, doc.pdf_path) if doc.pdf_path else None,
        pages=pages,
    )
