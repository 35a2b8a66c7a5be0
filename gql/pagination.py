"""Relay connections: uploads newest first, paged forwards (first/after) or backwards
(last/before) with opaque cursors."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

import strawberry
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from gql.context import Context
from gql.errors import BadUserInput, shown
from gql.types import Upload
from models import upload as m

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # one page is one query; bigger pages are a client's loop


@strawberry.type(description="Where a page sits in the whole list (Relay)")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class UploadEdge:
    cursor: str
    node: Upload


@strawberry.type(description="Uploads, newest first")
class UploadConnection:
    edges: list[UploadEdge]
    page_info: PageInfo
    matching: strawberry.Private[QuerySet[m.Upload]]

    @strawberry.field(description="Uploads matching the filter, on every page")
    async def total_count(self) -> int:
        return await self.matching.count()


def encode_cursor(row: m.Upload) -> str:
    """Opaque cursor: creation time and id of an upload."""
    raw = f"{row.created_at.isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor names; anything else is BAD_USER_INPUT."""
    try:
        created, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(f"Malformed cursor: {shown(cursor)}") from None


def _older(cursor: str) -> Q:
    """Uploads after the cursor in the list (older)."""
    created, ident = decode_cursor(cursor)
    return Q(created_at__lt=created) | Q(created_at=created, id__lt=ident)


def _newer(cursor: str) -> Q:
    """Uploads before the cursor in the list (newer)."""
    created, ident = decode_cursor(cursor)
    return Q(created_at__gt=created) | Q(created_at=created, id__gt=ident)


def _page_size(first: int | None, last: int | None) -> int:
    size = last if last is not None else first
    size = DEFAULT_PAGE_SIZE if size is None else size
    if not 0 <= size <= MAX_PAGE_SIZE:
        name = "last" if last is not None else "first"
        raise BadUserInput(f"`{name}` must be between 0 and {MAX_PAGE_SIZE}")
    return size


async def upload_connection(
    matching: QuerySet[m.Upload],
    context: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> UploadConnection:
    """One page of `matching`: the first uploads after `after`, or with `last` the last
    ones before `before` (`first` then does not apply)."""
    size = _page_size(first, last)
    window = matching
    if after:
        window = window.filter(_older(after))
    if before:
        window = window.filter(_newer(before))
    if last is None:
        rows = await window.order_by("-created_at", "-id").limit(size + 1)
        has_next = len(rows) > size
        has_previous = bool(after) and await matching.filter(_newer(after or "")).exists()
        rows = rows[:size]
    else:
        rows = await window.order_by("created_at", "id").limit(size + 1)
        has_previous = len(rows) > size
        has_next = bool(before) and await matching.filter(_older(before or "")).exists()
        rows = rows[:size][::-1]
    edges = [UploadEdge(cursor=encode_cursor(r), node=Upload.from_model(r, context)) for r in rows]
    info = PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return UploadConnection(edges=edges, page_info=info, matching=matching)
