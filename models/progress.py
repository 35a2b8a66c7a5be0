"""The progress event log: numbered events per upload, and the snapshot a subscriber starts from."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise.exceptions import DoesNotExist
from tortoise.expressions import F
from tortoise.functions import Count

from models.upload import Document, Event, EventKind, Page, Upload

EVENT_FIELDS = (
    "document_id",
    "document_status",
    "pages_done",
    "page_count",
    "page",
    "error_code",
)


async def append_event(upload_id: UUID, kind: EventKind, **fields: Any) -> dict[str, Any]:
    """Store the next event of an upload; call inside the transaction that made the change."""
    unknown = set(fields) - set(EVENT_FIELDS) - {"upload_status"}
    if unknown:
        raise TypeError(f"unknown event fields: {sorted(unknown)}")
    sequence, status = await _next_sequence(upload_id)
    payload: dict[str, Any] = {
        "sequence": sequence,
        "kind": kind.value,
        "upload_id": str(upload_id),
        "upload_status": status,
        **dict.fromkeys(EVENT_FIELDS),
    }
    payload.update(fields)
    await Event.create(upload_id=upload_id, sequence=sequence, kind=kind, payload=payload)
    return payload


# One round trip for the number and the upload's status. The UPDATE takes the row lock
# until commit, so concurrent writers are serialised (PostgreSQL and SQLite alike).
NEXT_SEQUENCE = {
    "postgres": 'UPDATE "upload" SET "sequence" = "sequence" + 1 WHERE "id" = $1'
    ' RETURNING "sequence", "status"',
    "sqlite": 'UPDATE "upload" SET "sequence" = "sequence" + 1 WHERE "id" = ?'
    ' RETURNING "sequence", "status"',
}


async def _next_sequence(upload_id: UUID) -> tuple[int, str]:
    db = Upload._meta.db  # the transaction's connection inside in_transaction()
    sql = NEXT_SEQUENCE.get(db.capabilities.dialect)
    if sql is None:  # another dialect: two statements
        await Upload.filter(id=upload_id).update(sequence=F("sequence") + 1)
        upload = await Upload.get(id=upload_id).only("id", "sequence", "status")
        return upload.sequence, upload.status.value
    key = upload_id if db.capabilities.dialect == "postgres" else str(upload_id)
    rows = await db.execute_query_dict(sql, [key])
    if not rows:
        raise DoesNotExist(f"no upload {upload_id}")
    return int(rows[0]["sequence"]), str(rows[0]["status"])


async def head(upload_id: UUID) -> int | None:
    """The sequence number of an upload's latest event (one indexed column), None if unknown."""
    rows = await Upload.filter(id=upload_id).values("sequence")
    return int(rows[0]["sequence"]) if rows else None


async def document_progress(document_id: UUID) -> int:
    """How many pages of a document are recorded."""
    return await Page.filter(document_id=document_id).count()


async def snapshot(upload_id: UUID) -> dict[str, Any] | None:
    """The SNAPSHOT payload built from committed rows, or None for an unknown upload."""
    # Sequence first: state read afterwards is at least as new, so a subscriber that drops
    # events up to this number can only see state that is current or newer.
    upload = await Upload.get_or_none(id=upload_id)
    if upload is None:
        return None
    documents = (
        await Document.filter(upload_id=upload_id)
        .order_by("index")
        .values("id", "status", "page_count", "error_code")
    )
    counts = dict(
        await Page.filter(document__upload_id=upload_id)
        .group_by("document_id")
        .annotate(n=Count("id"))
        .values_list("document_id", "n")
    )
    per_document = [
        {
            "document_id": str(d["id"]),
            "document_status": _value(d["status"]),
            "pages_done": counts.get(d["id"], 0),
            "page_count": d["page_count"],
            "error_code": _value(d["error_code"]),
        }
        for d in documents
    ]
    return {
        "sequence": upload.sequence,
        "kind": EventKind.SNAPSHOT.value,
        "upload_id": str(upload_id),
        "upload_status": upload.status.value,
        "document_id": None,
        "document_status": None,
        "pages_done": sum(d["pages_done"] for d in per_document),
        "page_count": sum(d["page_count"] or 0 for d in per_document),
        "page": None,
        "error_code": None,
        "documents": per_document,
    }


async def upload_totals(upload_id: UUID) -> tuple[int, int]:
    """(pages recorded, pages expected) summed over an upload's documents."""
    done = await Page.filter(document__upload_id=upload_id).count()
    counts = await Document.filter(upload_id=upload_id).values("page_count")
    return done, sum(int(row["page_count"] or 0) for row in counts)


async def events_after(upload_id: UUID, after: int) -> list[dict[str, Any]]:
    """Stored events of an upload with a sequence above `after`, in order."""
    rows = await Event.filter(upload_id=upload_id, sequence__gt=after).order_by("sequence")
    return [dict(row.payload) for row in rows]


def _value(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))
