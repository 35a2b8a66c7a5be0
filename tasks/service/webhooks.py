"""Webhook messages of uploads: planned once per terminal state, their body, redelivery.

A message is planned in the same transaction that makes its upload terminal, so each terminal
state gets exactly one message; workers deliver it (see webhook_delivery).
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from models.upload import DeliveryStatus, Document, Status, Upload, WebhookDelivery

EVENTS = {
    Status.COMPLETED: "upload.completed",
    Status.FAILED: "upload.failed",
    Status.CANCELLED: "upload.cancelled",
}
# The first attempt is queued as soon as the upload's archive exists (its URL is in the body);
# should that message be lost, the workers' periodic pass sends it after this long.
FIRST_ATTEMPT_GRACE = 60.0
JITTER = 0.2


@dataclass(frozen=True)
class Subscriber:
    """Where an upload's events go, and the API base URL its links are made with."""

    url: str
    public_base: str


class NothingToRedeliver(Exception):
    """The upload has no webhook, or no event was sent yet."""


def _now() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> str:
    """A webhook-id: unique per message, the same on every attempt of it."""
    return f"msg_{uuid.uuid4().hex}"


def retry_delay(
    attempt: int, schedule: list[float], rng: random.Random | None = None
) -> float | None:
    """Seconds from failed attempt `attempt` (1-based) to the next one, jittered; None when
    the schedule is used up and the message is given up."""
    if attempt > len(schedule):
        return None
    spread = (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)  # noqa: S311 (not secret)
    return schedule[attempt - 1] * spread


async def plan(upload_id: UUID, outcome: Status) -> None:
    """Plan the message of an upload that just became terminal (inside its transaction)."""
    urls = await Upload.filter(id=upload_id).values_list("webhook_url", flat=True)
    url = urls[0] if urls else None
    if not url:
        return
    await WebhookDelivery.create(
        upload_id=upload_id,
        message_id=new_message_id(),
        event=EVENTS[outcome],
        url=url,
        attempt=1,
        next_attempt_at=_now() + timedelta(seconds=FIRST_ATTEMPT_GRACE),
    )


async def due_now(upload_id: UUID) -> list[UUID]:
    """Make an upload's pending attempts due at once; returns them (for the caller to queue)."""
    ids = await WebhookDelivery.filter(
        upload_id=upload_id, status=DeliveryStatus.PENDING
    ).values_list("id", flat=True)
    if ids:
        await WebhookDelivery.filter(id__in=ids, status=DeliveryStatus.PENDING).update(
            next_attempt_at=_now()
        )
    return [UUID(str(i)) for i in ids]


async def redeliver(upload_id: UUID) -> UUID | None:
    """Send the upload's latest message once more; the attempt to queue, or None when one
    is already under way."""
    latest = (
        await WebhookDelivery.filter(upload_id=upload_id)
        .order_by("-created_at", "-attempt")
        .first()
    )
    if latest is None:
        raise NothingToRedeliver("no webhook event was sent for this upload yet")
    if latest.status == DeliveryStatus.SENDING:
        return None
    if latest.status == DeliveryStatus.PENDING:
        await WebhookDelivery.filter(id=latest.id).update(next_attempt_at=_now())
        return UUID(str(latest.id))
    row = await WebhookDelivery.create(
        upload_id=upload_id,
        message_id=latest.message_id,
        event=latest.event,
        url=latest.url,
        body=latest.body,
        attempt=latest.attempt + 1,
        next_attempt_at=_now(),
    )
    return UUID(str(row.id))


def file_url(base: str, path: str) -> str:
    """Absolute download URL of a storage-relative path (as the API serves it)."""
    return f"{base.rstrip('/')}/files/{path}"


async def body(upload_id: UUID, event: str, public_url: str) -> str:
    """The JSON body of an upload's message: the upload as its final query shows it."""
    upload = await Upload.get(id=upload_id)
    documents = await Document.filter(upload_id=upload_id).order_by("index")
    base = public_url or upload.public_base or ""
    terminal = upload.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    archive = file_url(base, upload.archive_path) if terminal and upload.archive_path else None
    finished = upload.finished_at or _now()
    data = {
        "uploadId": str(upload.id),
        "status": str(upload.status),
        "documentCount": upload.document_count,
        "pageCount": sum(doc.page_count or 0 for doc in documents),
        "archiveUrl": archive,
        "documents": [
            {
                "id": str(doc.id),
                "filename": doc.filename,
                "status": str(doc.status),
                "pageCount": doc.page_count,
                "errorCode": str(doc.error_code) if doc.error_code else None,
            }
            for doc in documents
        ],
    }
    return json.dumps({"type": event, "timestamp": finished.isoformat(), "data": data})
