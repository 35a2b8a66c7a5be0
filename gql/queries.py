"""Query root: uploads, documents, pages, ping, workers."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

import strawberry
from strawberry.types import Info
from tortoise.expressions import Q

from gql.context import Context
from gql.errors import BadUserInput, Forbidden
from gql.loaders import prefetch
from gql.principals import owner_filter
from gql.types import (
    Document,
    Page,
    PageInfo,
    Upload,
    UploadConnection,
    UploadEdge,
    Worker,
)
from models import upload as m
from tasks import control

MAX_PAGE_SIZE = 100


def parse_id(value: str, what: str = "id") -> UUID:
    """The UUID behind an ID argument; a malformed one is the client's error."""
    try:
        return UUID(str(value))
    except ValueError:
        raise BadUserInput(f"Malformed {what}: {value!r}") from None


def encode_cursor(row: m.Upload) -> str:
    """Opaque cursor: creation time and id of the last upload seen."""
    raw = f"{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor names; anything else is BAD_USER_INPUT."""
    try:
        created, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(f"Malformed cursor: {cursor!r}") from None


@strawberry.type
class Query:
    @strawberry.field(description="One upload by id; null if unknown")
    async def upload(self, info: Info[Context, None], id: strawberry.ID) -> Upload | None:
        mine = owner_filter(info.context.principal)
        row = await m.Upload.get_or_none(mine, id=parse_id(id))
        if row is None:
            return None
        await prefetch(info, row)
        return Upload.from_model(row, info.context)

    @strawberry.field(description="Uploads, newest first, cursor-paginated")
    async def uploads(
        self,
        info: Info[Context, None],
        first: int | None = 20,
        after: str | None = None,
        status: m.Status | None = None,
    ) -> UploadConnection:
        first = 20 if first is None else first
        if not 0 <= first <= MAX_PAGE_SIZE:
            raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}")
        query = m.Upload.filter(owner_filter(info.context.principal))
        if status is not None:
            query = query.filter(status=status)
        if after:
            created, ident = decode_cursor(after)
            query = query.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=ident))
        rows = await query.order_by("-created_at", "-id").limit(first + 1)
        edges = [
            UploadEdge(cursor=encode_cursor(row), node=Upload.from_model(row, info.context))
            for row in rows[:first]
        ]
        end = edges[-1].cursor if edges else None
        return UploadConnection(
            edges=edges, page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end)
        )

    @strawberry.field(description="One document by id; null if unknown")
    async def document(self, info: Info[Context, None], id: strawberry.ID) -> Document | None:
        mine = owner_filter(info.context.principal, "upload__")
        row = await m.Document.get_or_none(mine, id=parse_id(id))
        return Document.from_model(row, info.context) if row else None

    @strawberry.field(description="One page by id; null if unknown")
    async def page(self, info: Info[Context, None], id: strawberry.ID) -> Page | None:
        mine = owner_filter(info.context.principal, "document__upload__")
        row = await m.Page.get_or_none(mine, id=parse_id(id))
        return Page.from_model(row, info.context) if row else None

    @strawberry.field(description="The server's current time")
    def ping(self) -> datetime:
        return datetime.now(UTC)

    @strawberry.field(description="Worker processes with a recent heartbeat")
    async def workers(self, info: Info[Context, None]) -> list[Worker]:
        if not info.context.is_admin:
            raise Forbidden("An admin token is required")
        rows = await control.live_workers(info.context.settings)
        return [Worker.from_model(row) for row in rows]
