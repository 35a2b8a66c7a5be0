"""Writes that hand back what they wrote in the same round trip (UPDATE or INSERT ...
RETURNING, which PostgreSQL and SQLite both have and Tortoise's querysets do not expose)."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from tortoise.models import Model
from tortoise.queryset import UpdateQuery

from models.upload import Page

M = TypeVar("M", bound=Model)


async def update_returning(query: UpdateQuery, *columns: str) -> list[dict[str, Any]]:
    """Run a conditional update built by Tortoise; the changed rows' `columns` (all: "*")."""
    query._choose_db_if_not_chosen(True)
    query._make_query()
    builder: Any = query.query  # PostgreSQL's and SQLite's builders both have returning()
    sql, params = builder.returning(*columns).get_parameterized_sql()
    return await query._db.execute_query_dict(sql, params)


async def update_returning_row(model: type[M], query: UpdateQuery) -> M | None:
    """Run a conditional update of at most one row of `model`; the row as it is now, or None
    when no row matched."""
    rows = await update_returning(query, "*")
    return model._init_from_db(**rows[0]) if rows else None


# The unique (document, number) makes a page recorded twice a no-op rather than an error that
# would abort the surrounding transaction.
INSERT_PAGE = (
    'INSERT INTO "page" ("id","document_id","number","width","height","path","size_bytes",'
    '"created_at") VALUES ({}) ON CONFLICT ("document_id","number") DO NOTHING RETURNING "id"'
)
INSERT_PAGES = {
    "postgres": INSERT_PAGE.format(",".join(f"${n}" for n in range(1, 9))),
    "sqlite": INSERT_PAGE.format(",".join("?" * 8)),
}


async def insert_page(page: Page) -> bool:
    """Insert an unsaved page row unless its document already has that page number; True
    when it was inserted."""
    db = Page._meta.db  # the transaction's connection inside in_transaction()
    fields = Page._meta.fields_map
    columns = ("id", "document_id", "number", "width", "height", "path", "size_bytes")
    values = [fields[name].to_db_value(getattr(page, name), page) for name in columns]
    values.append(fields["created_at"].to_db_value(None, page))  # auto_now_add: sets it too
    rows = await db.execute_query_dict(INSERT_PAGES[db.capabilities.dialect], values)
    if rows:
        page._saved_in_db = True
    return bool(rows)


def as_uuid(value: object) -> UUID:
    """A UUID column's value as read back (a UUID, or its text on SQLite)."""
    return value if isinstance(value, UUID) else UUID(str(value))
