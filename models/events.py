"""Appending to the progress event log: the upload's next sequence number, then the event row
written with the upload's page totals read by the same statement."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from tortoise import timezone
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
    payload: dict[str, Any] = {
        "sequence": sequence,
        "kind": kind.value,
        "upload_id": str(upload_id),
        "upload_status": status,
        **dict.fromkeys(EVENT_FIELDS),
        "upload_pages_done": None,
        "upload_page_count": None,
    }
    payload.update(fields)
    # Every event carries the upload's pages recorded and expected at its sequence.
    reads = {"upload_pages_done": PAGES_OF_UPLOAD, "upload_page_count": PAGE_COUNT_OF_UPLOAD}
    if counting is not None:
        reads["pages_done"] = PAGES_OF_DOCUMENT
    if kind == EventKind.UPLOAD_DONE:
        reads.update(pages_done=PAGES_OF_UPLOAD, page_count=PAGE_COUNT_OF_UPLOAD)
    totals = {key: read for key, read in reads.items() if key not in fields}
    payload.update(await _insert(payload, totals, counting))
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
    rows = await db.execute_query_dict(sql, [dialect_key(db, upload_id)])
    if not rows:
        raise DoesNotExist(f"no upload {upload_id}")
    return int(rows[0]["sequence"]), str(rows[0]["status"])


# The totals an event can carry, read by the statement that inserts it: that is after the
# sequence's row lock is ours, so every page whose event came before this one is committed
# and every later one is not (pages and their events commit together). {0}: the upload,
# {1}: the document counted.
PAGES_OF_UPLOAD = """(SELECT count(*) FROM "page" p JOIN "document" d
 ON p."document_id" = d."id" WHERE d."upload_id" = {0})"""
PAGE_COUNT_OF_UPLOAD = """(SELECT coalesce(sum(d."page_count"), 0) FROM "document" d
 WHERE d."upload_id" = {0})"""
PAGES_OF_DOCUMENT = """(SELECT count(*) FROM "page" p WHERE p."document_id" = {1})"""
INSERT = 'INSERT INTO "event" ("upload_id", "sequence", "kind", "payload", "created_at")'
INSERT += ' VALUES ({0}, {1}, {2}, {3}, {4}) RETURNING "payload"'
# Per dialect: the upload, sequence, kind, payload with totals written into it, time, and the
# document counted (last: PostgreSQL refuses a parameter that the statement does not use).
PLACES = {
    "postgres": ("$1", "$2", "$3", "$4::jsonb || jsonb_build_object({})", "$5", "$6"),
    "sqlite": ("?1", "?2", "?3", "json_set(?4, {})", "?5", "?6"),
}
KEYS = {"postgres": "'{}'", "sqlite": "'$.{}'"}


async def _insert(
    payload: dict[str, Any], totals: dict[str, str], counting: UUID | None
) -> dict[str, Any]:
    """Insert the event row, the `totals` (payload key: read) written into its payload;
    returns those totals."""
    db = Event._meta.db  # the transaction's connection inside in_transaction()
    dialect = db.capabilities.dialect
    upload_id = UUID(payload["upload_id"])
    if dialect not in PLACES:  # another dialect: one statement per total, then the row
        written = {key: await _total(read, upload_id, counting) for key, read in totals.items()}
        await Event.create(
            upload_id=upload_id,
            sequence=payload["sequence"],
            kind=payload["kind"],
            payload={**payload, **written},
        )
        return written
    upload, sequence, kind, with_totals, created, document = PLACES[dialect]
    pairs = ", ".join(f"{KEYS[dialect].format(key)}, {read}" for key, read in totals.items())
    value = with_totals.format(pairs).format(upload, document)
    params = [
        dialect_key(db, upload_id),
        payload["sequence"],
        payload["kind"],
        Event._meta.fields_map["payload"].to_db_value(payload, Event),
        timezone.now(),
    ]
    if counting is not None and PAGES_OF_DOCUMENT in totals.values():
        params.append(dialect_key(db, counting))
    sql = INSERT.format(upload, sequence, kind, value, created)
    row = (await db.execute_query_dict(sql, params))[0]["payload"]
    stored = json.loads(row) if isinstance(row, str) else row
    return {key: stored[key] for key in totals}


async def _total(read: str, upload_id: UUID, document_id: UUID | None) -> int:
    if read == PAGES_OF_DOCUMENT:
        return await Page.filter(document_id=document_id).count()
    if read == PAGES_OF_UPLOAD:
        return await Page.filter(document__upload_id=upload_id).count()
    counts = await Document.filter(upload_id=upload_id).values("page_count")
    return sum(int(row["page_count"] or 0) for row in counts)


def dialect_key(db: Any, value: UUID) -> Any:
    """A UUID as a raw statement's parameter: asyncpg takes a UUID; SQLite stores its text."""
    return value if db.capabilities.dialect == "postgres" else str(value)
