"""The progress event log: numbered events per upload, and the snapshot a subscriber starts from."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from models.events import dialect_key
from models.upload import Event, EventKind, Page, Upload


def _dialect_sql(queries: dict[str, str], upload_id: UUID) -> tuple[Any, str | None, Any]:
    """The connection in use, the query for its dialect (None: another one) and the id."""
    db = Upload._meta.db  # the transaction's connection inside in_transaction()
    return db, queries.get(db.capabilities.dialect), dialect_key(db, upload_id)


async def head(upload_id: UUID) -> int | None:
    """The sequence number of an upload's latest event (one indexed column), None if unknown."""
    rows = await Upload.filter(id=upload_id).values("sequence")
    return int(rows[0]["sequence"]) if rows else None


async def position(upload_id: UUID) -> tuple[int, str] | None:
    """An upload's latest sequence and its status (one indexed row), None if unknown."""
    rows = await Upload.filter(id=upload_id).values_list("sequence", "status")
    return (int(rows[0][0]), _value(rows[0][1]) or "") if rows else None


async def document_progress(document_id: UUID) -> int:
    """How many pages of a document are recorded."""
    return await Page.filter(document_id=document_id).count()


# One statement: it reads one consistent state (PostgreSQL and SQLite alike), in which a
# page is counted exactly when its PAGE_DONE event, committed with it, is at or below the
# sequence read.
SNAPSHOT = """SELECT u."sequence", u."status" AS "upload_status", d."id", d."status",
 d."page_count", d."error_code",
 (SELECT count(*) FROM "page" p WHERE p."document_id" = d."id") AS "pages_done"
 FROM "upload" u LEFT JOIN "document" d ON d."upload_id" = u."id"
 WHERE u."id" = {0} ORDER BY d."index"
"""
SNAPSHOTS = {"postgres": SNAPSHOT.format("$1"), "sqlite": SNAPSHOT.format("?")}


async def snapshot(upload_id: UUID) -> dict[str, Any] | None:
    """The SNAPSHOT payload built from committed rows, or None for an unknown upload."""
    db, sql, key = _dialect_sql(SNAPSHOTS, upload_id)
    if sql is None:
        raise NotImplementedError(f"no snapshot query for {db.capabilities.dialect}")
    rows = await db.execute_query_dict(sql, [key])
    if not rows:
        return None
    per_document = [
        {
            "document_id": str(row["id"]),
            "document_status": _value(row["status"]),
            "pages_done": int(row["pages_done"]),
            "page_count": row["page_count"],
            "error_code": _value(row["error_code"]),
        }
        for row in rows
        if row["id"] is not None
    ]
    done = sum(d["pages_done"] for d in per_document)
    count = sum(d["page_count"] or 0 for d in per_document)
    return {
        "sequence": int(rows[0]["sequence"]),
        "kind": EventKind.SNAPSHOT.value,
        "upload_id": str(upload_id),
        "upload_status": _value(rows[0]["upload_status"]),
        "document_id": None,
        "document_status": None,
        "pages_done": done,
        "page_count": count,
        "page": None,
        "error_code": None,
        "upload_pages_done": done,
        "upload_page_count": count,
        "documents": per_document,
    }


async def events_after(upload_id: UUID, after: int) -> list[dict[str, Any]]:
    """Stored events of an upload with a sequence above `after`, in order."""
    rows = await Event.filter(upload_id=upload_id, sequence__gt=after).order_by("sequence")
    return [dict(row.payload) for row in rows]


def _value(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))
