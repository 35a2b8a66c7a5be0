"""Query root: uploads, documents, pages, ping, workers."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.errors import BadUserInput, Forbidden, shown
from gql.loaders import prefetch
from gql.node import Node
from gql.pagination import MAX_PAGE_SIZE, UploadConnection, upload_connection
from gql.principals import owner_filter
from gql.status_types import Worker
from gql.types import Document, Page, Upload
from models import upload as m
from tasks.service import control


def parse_id(value: str, what: str = "id") -> UUID:
    """The UUID behind an ID argument; a malformed one is the client's error."""
    try:
        return UUID(str(value))
    except ValueError:
        raise BadUserInput(f"Malformed {what}: {shown(value)}") from None


async def find_document(key: UUID, context: Context) -> Document | None:
    """The document with this id, if the caller may see it."""
    mine = owner_filter(context.principal, "upload__")
    row = await m.Document.get_or_none(mine, id=key)
    return Document.from_model(row, context) if row else None


async def find_page(key: UUID, context: Context) -> Page | None:
    """The page with this id, if the caller may see it."""
    mine = owner_filter(context.principal, "document__upload__")
    row = await m.Page.get_or_none(mine, id=key)
    return Page.from_model(row, context) if row else None


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

    @strawberry.field(
        description="Uploads, newest first, as a Relay connection: `first` (default 20) after "
        f"`after`, or `last` before `before` (then `first` does not apply); `first` and `last` "
        f"take at most {MAX_PAGE_SIZE}"
    )
    async def uploads(
        self,
        info: Info[Context, None],
        first: int | None = 20,
        after: str | None = None,
        status: m.Status | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> UploadConnection:
        matching = m.Upload.filter(owner_filter(info.context.principal))
        if status is not None:
            matching = matching.filter(status=status)
        return await upload_connection(
            matching, info.context, first=first, after=after, last=last, before=before
        )

    @strawberry.field(description="One document by id; null if unknown")
    async def document(self, info: Info[Context, None], id: strawberry.ID) -> Document | None:
        return await find_document(parse_id(id), info.context)

    @strawberry.field(description="One page by id; null if unknown")
    async def page(self, info: Info[Context, None], id: strawberry.ID) -> Page | None:
        return await find_page(parse_id(id), info.context)

    @strawberry.field(description="An upload, document or page by id (Relay); null if unknown")
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        key = parse_id(id)
        mine = owner_filter(info.context.principal)
        row = await m.Upload.get_or_none(mine, id=key)
        if row is not None:
            return Upload.from_model(row, info.context)
        return await find_document(key, info.context) or await find_page(key, info.context)

    @strawberry.field(description="The server's current time")
    def ping(self) -> datetime:
        return datetime.now(UTC)

    @strawberry.field(description="Worker processes with a recent heartbeat")
    async def workers(self, info: Info[Context, None]) -> list[Worker]:
        if not info.context.is_admin:
            raise Forbidden("An admin token is required")
        rows = await control.live_workers(info.context.settings)
        return [Worker.from_model(row) for row in rows]
