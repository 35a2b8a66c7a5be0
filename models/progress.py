"""The progress event log: numbered events per upload, and the snapshot a subscriber starts from."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise.exceptions import DoesNotExist
from tortoise.expressions import F

from models.upload import Document, Event, EventKind, Page, Upload

EVENT_FIELDS = (
    "document_id",
    "document_status",
    "pages_done",
    "page_count",
    "page",
    "error_code",
)
# Every event also carries the upload's pages recorded and pages expected at its sequence.
UPLOAD_FIELDS = ("upload_pages_done", "upload_page_count")


async def append_event(
    upload_id: UUID,
    kind: EventKind,
    *,
    counting: UUID | None = None,
    starts_upload: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """Store the next event of an upload; call inside the transaction that made the change.
    `counting`: the document whose recorded pages are the event's pages_done (an UPLOAD_DONE
    counts the upload's). `starts_upload`: a PENDING upload becomes IN_PROGRESS with it."""
    unknown = set(fields) - set(EVENT_FIELDS) - {"upload_status"}
    if unknown:
        raise TypeError(f"unknown event fields: {sorted(unknown)}")
    sequence, status = await _next_sequence(upload_id, starts_upload)
    # Read after the sequence's row lock is ours: every page whose event came before this
    # one is committed, and every later one is not (pages and their events commit together).
    done, count, document_done = await _totals(upload_id, counting)
    payload: dict[str, Any] = {
        "sequence": sequence,
        "kind": kind.value,
        "upload_id": str(upload_id),
        "upload_status": status,
        **dict.fromkeys(EVENT_FIELDS),
        "upload_pages_done": done,
        "upload_page_count": count,
    }
    if counting is not None:
        payload["pages_done"] = document_done
    if kind == EventKind.UPLOAD_DONE:
        payload.update(pages_done=done, page_count=count)
    payload.update(fields)
    await Event.create(upload_id=upload_id, sequence=sequence, kind=kind, payload=payload)
    return payload


# One round trip for the number and the upload's status. The UPDATE takes the row lock
# until commit, so concurrent writers are serialised (PostgreSQL and SQLite alike).
NEXT_SEQUENCE = 'UPDATE "upload" SET "sequence" = "sequence" + 1{1} WHERE "id" = {0}'
NEXT_SEQUENCE += ' RETURNING "sequence", "status"'
# A document starting: its upload, if still PENDING, is IN_PROGRESS from this event on.
STARTS = """, "status" = CASE "status" WHEN 'PENDING' THEN 'IN_PROGRESS' ELSE "status" END"""
NEXT_SEQUENCES = {
    (False, "postgres"): NEXT_SEQUENCE.format("$1", ""),
    (False, "sqlite"): NEXT_SEQUENCE.format("?", ""),
    (True, "postgres"): NEXT_SEQUENCE.format("$1", STARTS),
    (True, "sqlite"): NEXT_SEQUENCE.format("?", STARTS),
}


async def _next_sequence(upload_id: UUID, starts_upload: bool) -> tuple[int, str]:
    db = Upload._meta.db  # the transaction's connection inside in_transaction()
    sql = NEXT_SEQUENCES.get((starts_upload, db.capabilities.dialect))
    if sql is None:  # another dialect: more statements
        if starts_upload:
            await Upload.filter(id=upload_id, status="PENDING").update(status="IN_PROGRESS")
        await Upload.filter(id=upload_id).update(sequence=F("sequence") + 1)
        upload = await Upload.get(id=upload_id).only("id", "sequence", "status")
        return upload.sequence, upload.status.value
    rows = await db.execute_query_dict(sql, [_dialect_key(db, upload_id)])
    if not rows:
        raise DoesNotExist(f"no upload {upload_id}")
    return int(rows[0]["sequence"]), str(rows[0]["status"])


def _dialect_sql(queries: dict[str, str], upload_id: UUID) -> tuple[Any, str | None, Any]:
    """The connection in use, the query for its dialect (None: another one) and the id."""
    db = Upload._meta.db  # the transaction's connection inside in_transaction()
    return db, queries.get(db.capabilities.dialect), _dialect_key(db, upload_id)


def _dialect_key(db: Any, value: UUID) -> Any:
    # asyncpg takes a UUID; SQLite stores its text.
    return value if db.capabilities.dialect == "postgres" else str(value)


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
TOTALS = """SELECT
 (SELECT count(*) FROM "page" p JOIN "document" d ON p."document_id" = d."id"
  WHERE d."upload_id" = {0}) AS "done",
 (SELECT coalesce(sum(d."page_count"), 0) FROM "document" d WHERE d."upload_id" = {0})
 AS "count",
 (SELECT count(*) FROM "page" p WHERE p."document_id" = {1}) AS "document_done"
"""
UPLOAD_TOTALS = {"postgres": TOTALS.format("$1", "$2"), "sqlite": TOTALS.format("?1", "?2")}


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


async def upload_totals(upload_id: UUID) -> tuple[int, int]:
    """(pages recorded, pages expected) summed over an upload's documents."""
    done, count, _ = await _totals(upload_id, None)
    return done, count


async def _totals(upload_id: UUID, document_id: UUID | None) -> tuple[int, int, int]:
    # The upload's pages recorded and expected, and the pages of one of its documents.
    db, sql, key = _dialect_sql(UPLOAD_TOTALS, upload_id)
    if sql is None:  # another dialect: three statements
        done = await Page.filter(document__upload_id=upload_id).count()
        counts = await Document.filter(upload_id=upload_id).values("page_count")
        mine = await document_progress(document_id) if document_id else 0
        return done, sum(int(row["page_count"] or 0) for row in counts), mine
    document_key = None if document_id is None else _dialect_key(db, document_id)
    rows = await db.execute_query_dict(sql, [key, document_key])
    return int(rows[0]["done"]), int(rows[0]["count"]), int(rows[0]["document_done"])


async def events_after(upload_id: UUID, after: int) -> list[dict[str, Any]]:
    """Stored events of an upload with a sequence above `after`, in order."""
    rows = await Event.filter(upload_id=upload_id, sequence__gt=after).order_by("sequence")
    return [dict(row.payload) for row in rows]


def _value(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))
