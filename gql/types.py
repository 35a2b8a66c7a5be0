"""GraphQL types; each is built from a model row (or event payload) with from_model()."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.node import Node
from gql.webhooks import WebhookDelivery
from models import upload as m

# The models' enums are the GraphQL enums (registered in place, same names).
strawberry.enum(m.Status, name="Status")
strawberry.enum(m.EventKind, name="EventKind")
strawberry.enum(m.ErrorCode, name="ErrorCode")
Status = m.Status
R = TypeVar("R")
T = TypeVar("T")


def loaded(value: Awaitable[R], convert: Callable[[R], T]) -> T:
    """The converted value of a DataLoader load: at once when it is already loaded (primed
    by prefetch), else an awaitable that graphql-core awaits. Plain values spare graphql-core
    its awaitable path for the field and every item below it."""
    if isinstance(value, asyncio.Future) and value.done():
        return convert(value.result())

    async def later() -> T:
        return convert(await value)

    return cast(T, later())


def error_code_of(value: str | None) -> m.ErrorCode | None:
    """The ErrorCode a stored or published code names, None when there is none."""
    return m.ErrorCode(value) if value else None


@strawberry.type(description="A stored file: storage-relative path and absolute URL.")
class StoredFile:
    path: str
    url: str
    sha256: str | None = None
    content_type: str | None = None
    known_size: strawberry.Private[int | None] = None  # None: asked of the store when selected

    @strawberry.field
    async def size_bytes(self, info: Info[Context, None]) -> int:
        if self.known_size is not None:
            return self.known_size
        return await info.context.get_storage().size(self.path) or 0


@strawberry.type(description="One rendered PNG page of a document.")
class Page(Node):
    id: strawberry.ID
    number: int
    width: int
    height: int
    path: str
    url: str
    size_bytes: int

    @classmethod
    def from_model(cls, row: m.Page, ctx: Context) -> Page:
        return cls(
            id=strawberry.ID(str(row.id)),
            number=row.number,
            width=row.width,
            height=row.height,
            path=row.path,
            url=ctx.file_url(row.path),
            size_bytes=row.size_bytes,
        )

    @classmethod
    def from_payload(cls, data: dict[str, Any], ctx: Context) -> Page:
        return cls(
            id=strawberry.ID(str(data["id"])),
            number=int(data["number"]),
            width=int(data["width"]),
            height=int(data["height"]),
            path=str(data["path"]),
            url=ctx.file_url(str(data["path"])),
            size_bytes=int(data["size_bytes"]),
        )


def _rendition(row: m.Document, ctx: Context) -> StoredFile | None:
    if not row.pdf_path:
        return None
    # A local file's size costs a stat; a bucket's a HEAD, made only when the field is selected.
    path = ctx.get_storage().local_path(row.pdf_path)
    size = path.stat().st_size if path is not None else None
    return StoredFile(
        path=row.pdf_path, url=ctx.file_url(row.pdf_path), known_size=size,
        content_type="application/pdf",
    )  # fmt: skip


@strawberry.type(description="One file of an upload (or one entry of an uploaded zip).")
class Document(Node):
    id: strawberry.ID
    upload_id: strawberry.ID
    index: int = strawberry.field(description="1-based position within the upload")
    filename: str
    status: m.Status
    content_type: str | None = strawberry.field(description="Detected from the bytes")
    size_bytes: int
    sha256: str
    page_count: int | None
    error_code: m.ErrorCode | None
    error_message: str | None
    original: StoredFile
    pdf: StoredFile | None = strawberry.field(
        description="PDF rendition of an office document (made by LibreOffice); null otherwise"
    )
    deduplicated_from: strawberry.ID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int

    @strawberry.field(description="Rendered pages, in page order")
    def pages(self, info: Info[Context, None]) -> list[Page]:
        ctx = info.context
        return loaded(
            ctx.loaders.pages_by_document.load(UUID(self.id)),
            lambda rows: [Page.from_model(row, ctx) for row in rows],
        )

    @classmethod
    def from_model(cls, row: m.Document, ctx: Context) -> Document:
        return cls(
            id=strawberry.ID(str(row.id)),
            upload_id=strawberry.ID(str(row.upload_id)),
            index=row.index,
            filename=row.filename,
            status=m.Status(row.status),
            content_type=row.content_type,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            page_count=row.page_count,
            error_code=error_code_of(row.error_code),
            error_message=row.error_message,
            original=StoredFile(
                path=row.original_path,
                url=ctx.file_url(row.original_path),
                known_size=row.size_bytes,
                sha256=row.sha256,
                content_type=row.content_type,
            ),
            pdf=_rendition(row, ctx),
            deduplicated_from=(
                strawberry.ID(str(row.deduplicated_from)) if row.deduplicated_from else None
            ),
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            attempts=row.attempts,
        )


@strawberry.type(description="A zip entry that was archiver or system metadata, not a document.")
class SkippedEntry:
    archive: str = strawberry.field(description="The uploaded zip it was in")
    filename: str = strawberry.field(description="Its path inside the zip")
    reason: str = strawberry.field(description="What it is (a resource fork, a folder entry...)")


@strawberry.type(description="One createUpload call: its documents and overall status.")
class Upload(Node):
    id: strawberry.ID
    status: m.Status
    created_at: datetime
    finished_at: datetime | None
    document_count: int
    sequence: int = strawberry.field(description="Sequence number of the latest event")
    archive_url: str | None = strawberry.field(
        description="Zip of all pages with manifest.json; null until the upload is terminal"
    )
    skipped_entries: list[SkippedEntry] = strawberry.field(
        description="Zip entries skipped as archiver or system metadata (never documents)"
    )

    @strawberry.field(description="Documents in upload order")
    def documents(self, info: Info[Context, None]) -> list[Document]:
        ctx = info.context
        return loaded(
            ctx.loaders.documents_by_upload.load(UUID(self.id)),
            lambda rows: [Document.from_model(row, ctx) for row in rows],
        )

    @strawberry.field(description="Webhook delivery attempts, oldest first")
    def webhook_deliveries(self, info: Info[Context, None]) -> list[WebhookDelivery]:
        return loaded(
            info.context.loaders.deliveries_by_upload.load(UUID(self.id)),
            lambda rows: [WebhookDelivery.from_model(row) for row in rows],
        )

    @strawberry.field(description="Pages rendered so far, over all documents")
    def page_count(self, info: Info[Context, None]) -> int:
        return loaded(
            info.context.loaders.documents_by_upload.load(UUID(self.id)),
            lambda rows: sum(row.page_count or 0 for row in rows),
        )

    @classmethod
    def from_model(cls, row: m.Upload, ctx: Context) -> Upload:
        terminal = m.Status(row.status) in m.TERMINAL
        archive = ctx.file_url(row.archive_path) if terminal and row.archive_path else None
        return cls(
            id=strawberry.ID(str(row.id)),
            status=m.Status(row.status),
            created_at=row.created_at,
            finished_at=row.finished_at,
            document_count=row.document_count,
            sequence=row.sequence,
            archive_url=archive,
            skipped_entries=[SkippedEntry(**entry) for entry in row.skipped_entries or []],
        )
