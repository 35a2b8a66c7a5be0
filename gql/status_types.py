"""GraphQL types of what happens rather than what is stored: progress events, live workers,
and the processing switch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from gql.context import Context
from gql.types import Page, error_code_of
from models import upload as m


@strawberry.type(description="A progress event; the first of every subscription is SNAPSHOT")
class UploadEvent:
    sequence: int
    kind: m.EventKind
    upload_id: strawberry.ID
    upload_status: m.Status | None
    document_id: strawberry.ID | None
    document_status: m.Status | None
    pages_done: int | None = strawberry.field(
        description="PAGE_DONE and DOCUMENT_*: the document's pages done; SNAPSHOT: the upload's"
    )
    page_count: int | None = strawberry.field(
        description="PAGE_DONE and DOCUMENT_*: the document's page count; SNAPSHOT: the upload's"
    )
    page: Page | None
    error_code: m.ErrorCode | None
    upload_pages_done: int | None = strawberry.field(
        description="Pages of the whole upload recorded at this event's sequence"
    )
    upload_page_count: int | None = strawberry.field(
        description="Pages of the whole upload known at this event's sequence"
    )

    @classmethod
    def from_payload(cls, data: dict[str, Any], ctx: Context) -> UploadEvent:
        page = data.get("page")
        doc_status = data.get("document_status")
        up_status = data.get("upload_status")
        doc_id = data.get("document_id")
        return cls(
            sequence=int(data["sequence"]),
            kind=m.EventKind(data["kind"]),
            upload_id=strawberry.ID(str(data["upload_id"])),
            upload_status=m.Status(up_status) if up_status else None,
            document_id=strawberry.ID(str(doc_id)) if doc_id else None,
            document_status=m.Status(doc_status) if doc_status else None,
            pages_done=data.get("pages_done"),
            page_count=data.get("page_count"),
            page=Page.from_payload(page, ctx) if page else None,
            error_code=error_code_of(data.get("error_code")),
            upload_pages_done=data.get("upload_pages_done"),
            upload_page_count=data.get("upload_page_count"),
        )


@strawberry.type(description="A live worker process, from its heartbeat")
class Worker:
    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    current_document: strawberry.ID | None
    conversions_done: int
    rss_bytes: float = strawberry.field(description="Resident memory in bytes")

    @classmethod
    def from_model(cls, row: m.WorkerState) -> Worker:
        current = row.current_document
        return cls(
            id=row.id,
            host=row.host,
            pid=row.pid,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            current_document=strawberry.ID(str(current)) if current else None,
            conversions_done=row.conversions_done,
            rss_bytes=float(row.rss_bytes),
        )


@strawberry.type(description="Whether workers take new documents, and the backlog")
class ProcessingState:
    paused: bool
    pending_documents: int
    in_progress_documents: int
    active_workers: int
