"""Webhook messages of uploads: who subscribes, one message per terminal state, redelivery.

A message is planned in the same transaction that makes its upload terminal, so each terminal
state gets exactly one message; workers deliver it (see webhook_delivery).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from models.upload import DeliveryStatus, Status, Upload, WebhookDelivery
from settings import Settings
from tasks import queue, webhook_client
from tasks.service.errors import InvalidInput

logger = logging.getLogger(__name__)

EVENTS = {
    Status.COMPLETED: "upload.completed",
    Status.FAILED: "upload.failed",
    Status.CANCELLED: "upload.cancelled",
}
# The first attempt is queued as soon as the upload's archive exists (its URL is in the body);
# should that message be lost, the workers' periodic pass sends it after this long.
FIRST_ATTEMPT_GRACE = 60.0


@dataclass(frozen=True)
class Subscriber:
    """Where an upload's events go, and the API base URL its links are made with."""

    url: str
    public_base: str


def _now() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> str:
    """A webhook-id: unique per message, the same on every attempt of it."""
    return f"msg_{uuid.uuid4().hex}"


async def subscriber(url: str | None, public_base: str, settings: Settings) -> Subscriber | None:
    """The subscriber of a new upload; InvalidInput when webhooks are off or the URL is not a
    public http(s) address (PAGEMILL_WEBHOOK_ALLOW_PRIVATE lifts the latter)."""
    if url is None:
        return None
    if not settings.webhook_secret:
        raise InvalidInput("Webhooks are off on this server (no PAGEMILL_WEBHOOK_SECRET)")
    try:
        await webhook_client.check(url, settings.webhook_allow_private)
    except webhook_client.UnsafeUrl as exc:
        raise InvalidInput(f"Refused webhook URL: {exc}") from None
    return Subscriber(url=url, public_base=public_base)


async def plan(upload_id: UUID, outcome: Status, url: str | None) -> None:
    """Plan the message of an upload that just became terminal (inside its transaction), to
    its webhook URL (None: it has none)."""
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


async def send_planned(upload_id: UUID) -> None:
    """Queue the upload's pending attempts now (its archive, linked in the body, exists)."""
    ids = await WebhookDelivery.filter(
        upload_id=upload_id, status=DeliveryStatus.PENDING
    ).values_list("id", flat=True)
    if not ids:
        return
    await WebhookDelivery.filter(id__in=ids, status=DeliveryStatus.PENDING).update(
        next_attempt_at=_now()
    )
    await _queue([UUID(str(i)) for i in ids])


async def _queue(ids: list[UUID]) -> None:
    try:
        for delivery_id in ids:
            await queue.send(queue.DELIVER_WEBHOOK, str(delivery_id))
    except Exception:
        # The attempts are due in the database: the workers' periodic pass sends them.
        logger.warning("queueing %d webhook attempts failed", len(ids), exc_info=True)


async def redeliver(upload_id: UUID) -> Upload | None:
    """Send the upload's latest message once more, with its id and body; None if the upload
    is unknown, InvalidInput when it has sent no message yet."""
    if not await Upload.exists(id=upload_id):
        return None
    latest = (
        await WebhookDelivery.filter(upload_id=upload_id)
        .order_by("-created_at", "-attempt")
        .first()
    )
    if latest is None:
        raise InvalidInput("Nothing to redeliver: no webhook event was sent for this upload yet")
    if latest.status == DeliveryStatus.PENDING:
        await WebhookDelivery.filter(id=latest.id).update(next_attempt_at=_now())
        await _queue([UUID(str(latest.id))])
    elif latest.status != DeliveryStatus.SENDING:  # one under way needs nothing more
        row = await WebhookDelivery.create(
            upload_id=upload_id,
            message_id=latest.message_id,
            event=latest.event,
            url=latest.url,
            body=latest.body,
            attempt=latest.attempt + 1,
            next_attempt_at=_now(),
        )
        await _queue([UUID(str(row.id))])
    return await Upload.get(id=upload_id)
