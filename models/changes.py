"""Changes to an upload's rows that append no progress event move its `revision` instead.

A status poll is answered from memory while the upload's (sequence, revision, zip) read back
the same, so a write a poll could show either appends an event or calls one of these, in the
same transaction as the write.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from tortoise.expressions import F, Subquery

from models.upload import Document, Upload


async def touch_upload(upload_id: UUID) -> None:
    """Mark the upload changed."""
    await Upload.filter(id=upload_id).update(revision=F("revision") + 1)


async def touch_documents(document_ids: Iterable[UUID]) -> None:
    """Mark the uploads of these documents changed."""
    ids = list(document_ids)
    if ids:
        uploads = Subquery(Document.filter(id__in=ids).values("upload_id"))
        await Upload.filter(id__in=uploads).update(revision=F("revision") + 1)
