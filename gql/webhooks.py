"""The webhook delivery log as GraphQL shows it: one entry per attempt, made or planned."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import strawberry

from models import upload as m

strawberry.enum(m.DeliveryStatus, name="WebhookDeliveryStatus")


@strawberry.type(description="One attempt to deliver a webhook event (made, or planned)")
class WebhookDelivery:
    id: strawberry.ID
    message_id: str = strawberry.field(description="The webhook-id header: the same on retries")
    event: str = strawberry.field(description="upload.completed, upload.failed, upload.cancelled")
    attempt: int = strawberry.field(description="1 for the first attempt of a message")
    status: m.DeliveryStatus
    http_status: int | None = strawberry.field(description="The receiver's answer, if any")
    error: str | None
    created_at: datetime
    next_attempt_at: datetime | None = strawberry.field(
        description="When this (PENDING) or the next (FAILED) attempt is due; null when done"
    )

    @classmethod
    def from_model(cls, row: m.WebhookDelivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(row.id)),
            message_id=row.message_id,
            event=row.event,
            attempt=row.attempt,
            status=m.DeliveryStatus(row.status),
            http_status=row.http_status,
            error=row.error,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
        )


async def deliveries_by_upload(keys: Sequence[UUID]) -> list[list[m.WebhookDelivery]]:
    """DataLoader batch: each upload's delivery attempts, oldest first."""
    grouped: dict[UUID, list[m.WebhookDelivery]] = defaultdict(list)
    rows = await m.WebhookDelivery.filter(upload_id__in=list(keys)).order_by(
        "created_at", "attempt"
    )
    for row in rows:
        grouped[UUID(str(row.upload_id))].append(row)
    return [grouped[key] for key in keys]
