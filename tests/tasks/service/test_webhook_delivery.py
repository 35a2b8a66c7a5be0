"""Webhook attempts in the real database: claimed once however many workers race, and due
again when the worker that claimed one died.

The attempts here are due in a minute, and claimed as if that minute had passed: the embedded
worker of the API tests, which may run in this process, leaves them alone until then."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from models.upload import DeliveryStatus, Status, Upload, WebhookDelivery
from settings import get_settings
from tasks.service import webhook_delivery, webhooks

LATER = timedelta(seconds=webhooks.FIRST_ATTEMPT_GRACE + 1)


async def planned(url: str = "http://127.0.0.1:9/hook") -> WebhookDelivery:
    upload = await Upload.create(id=uuid.uuid4(), webhook_url=url, status=Status.COMPLETED)
    await webhooks.plan(upload.id, Status.COMPLETED, url)
    return await WebhookDelivery.get(upload_id=upload.id)


async def test_racing_workers_claim_an_attempt_once(db: str) -> None:
    row = await planned()
    settings = get_settings()
    later = datetime.now(UTC) + LATER
    assert await webhook_delivery.claim(row.id, settings) is None  # not due yet

    claims = await asyncio.gather(
        *(webhook_delivery.claim(row.id, settings, later) for _ in range(8))
    )

    assert sum(1 for claim in claims if claim is not None) == 1
    assert (await WebhookDelivery.get(id=row.id)).status == DeliveryStatus.SENDING


async def test_an_attempt_whose_worker_died_is_due_again_when_its_claim_lapses(db: str) -> None:
    row = await planned()
    settings = get_settings()
    later = datetime.now(UTC) + LATER
    assert await webhook_delivery.claim(row.id, settings, later) is not None
    assert await webhook_delivery.claim(row.id, settings, later) is None  # still claimed

    lapsed = later + timedelta(seconds=settings.webhook_timeout + webhook_delivery.CLAIM_MARGIN)

    assert await webhook_delivery.claim(row.id, settings, lapsed) is not None


async def test_each_terminal_state_plans_one_message(db: str) -> None:
    upload = await Upload.create(id=uuid.uuid4(), webhook_url="http://127.0.0.1:9/hook")
    await webhooks.plan(upload.id, Status.FAILED, upload.webhook_url)
    await webhooks.plan(upload.id, Status.COMPLETED, upload.webhook_url)
    quiet = await Upload.create(id=uuid.uuid4())
    await webhooks.plan(quiet.id, Status.COMPLETED, quiet.webhook_url)

    rows = await WebhookDelivery.filter(upload_id=upload.id).order_by("created_at")

    assert [r.event for r in rows] == ["upload.failed", "upload.completed"]
    assert len({r.message_id for r in rows}) == 2
    assert all(r.attempt == 1 and r.status == DeliveryStatus.PENDING for r in rows)
    assert not await WebhookDelivery.filter(upload_id=quiet.id).exists()
