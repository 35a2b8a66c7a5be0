"""Delivering webhook attempts: claim one atomically, sign and send it, log the outcome and
plan the next attempt. Attempts live in the database, so retries outlive any worker."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.upload import DeliveryStatus, WebhookDelivery
from settings import Settings
from tasks import webhook_client
from tasks.service.webhook_body import body

logger = logging.getLogger(__name__)

BATCH = 50  # due attempts one periodic pass takes on
CONCURRENCY = 8  # attempts one pass sends at once (each may wait out the whole timeout)
CLAIM_MARGIN = 20.0  # seconds past the timeout before another worker may take a claimed attempt
JITTER = 0.2


def _now() -> datetime:
    return datetime.now(UTC)


def retry_delay(
    attempt: int, schedule: list[float], rng: random.Random | None = None
) -> float | None:
    """Seconds from failed attempt `attempt` (1-based) to the next one, jittered; None when
    the schedule is used up and the message is given up."""
    if attempt > len(schedule):
        return None
    spread = (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)  # noqa: S311 (not secret)
    return schedule[attempt - 1] * spread


def _due(moment: datetime) -> Q:
    return Q(
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING), next_attempt_at__lte=moment
    )


async def claim(
    delivery_id: UUID, settings: Settings, moment: datetime | None = None
) -> WebhookDelivery | None:
    """Take an attempt due at `moment` (default now) for this worker; None when it is not due
    or another worker has it.

    The conditional update is the lock: of concurrent claimers exactly one changes the row.
    A claim lasts the timeout plus a margin; if its worker dies, the attempt is due again.
    """
    moment = moment or _now()
    until = moment + timedelta(seconds=settings.webhook_timeout + CLAIM_MARGIN)
    won = await WebhookDelivery.filter(_due(moment), id=delivery_id).update(
        status=DeliveryStatus.SENDING, next_attempt_at=until
    )
    if not won:
        return None
    return await WebhookDelivery.get(id=delivery_id)


async def deliver(delivery_id: UUID, settings: Settings) -> DeliveryStatus | None:
    """Make one attempt if it is due and unclaimed; returns how it ended (None: not ours)."""
    row = await claim(delivery_id, settings)
    if row is None:
        return None
    if row.body is None:
        row.body = await body(UUID(str(row.upload_id)), row.event, settings.public_url)
        await WebhookDelivery.filter(message_id=row.message_id, body=None).update(body=row.body)
    outcome = await _send(row, row.body.encode(), settings)
    status = await record(row, outcome, settings)
    logger.info(
        "webhook %s attempt %d for upload %s: %s (%s)",
        row.message_id,
        row.attempt,
        row.upload_id,
        status.value,
        outcome.http_status or outcome.error,
    )
    return status


async def _send(row: WebhookDelivery, payload: bytes, settings: Settings) -> webhook_client.Outcome:
    if not settings.webhook_secret:
        # Misconfigured worker: a failed attempt, so the schedule still ends.
        return webhook_client.Outcome(None, "this worker has no PAGEMILL_WEBHOOK_SECRET")
    headers = webhook_client.signed_headers(
        settings.webhook_secret, row.message_id, payload, _now()
    )
    return await webhook_client.post(
        row.url,
        headers,
        payload,
        allow_private=settings.webhook_allow_private,
        timeout=settings.webhook_timeout,
    )


async def record(
    row: WebhookDelivery, outcome: webhook_client.Outcome, settings: Settings
) -> DeliveryStatus:
    """Log the attempt's outcome; a failure plans the next attempt or gives the message up."""
    if outcome.delivered:
        status, delay = DeliveryStatus.DELIVERED, None
    else:
        delay = retry_delay(row.attempt, settings.webhook_retry_schedule)
        status = DeliveryStatus.GAVE_UP if delay is None else DeliveryStatus.FAILED
    next_at = None if delay is None else _now() + timedelta(seconds=delay)
    async with in_transaction():
        mine = await WebhookDelivery.filter(id=row.id, status=DeliveryStatus.SENDING).update(
            status=status,
            http_status=outcome.http_status,
            error=outcome.error,
            next_attempt_at=next_at,
        )
        if mine and next_at is not None:
            await WebhookDelivery.create(
                upload_id=row.upload_id,
                message_id=row.message_id,
                event=row.event,
                url=row.url,
                body=row.body,
                attempt=row.attempt + 1,
                next_attempt_at=next_at,
            )
    return status


async def deliver_due(settings: Settings) -> int:
    """One periodic pass: make the attempts that are due (retries, lost first attempts,
    attempts of dead workers). Safe to run in every worker at once."""
    ids = (
        await WebhookDelivery.filter(_due(_now()))
        .order_by("next_attempt_at")
        .limit(BATCH)
        .values_list("id", flat=True)
    )
    if not ids:
        return 0
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery_id: UUID) -> DeliveryStatus | None:
        async with slots:
            return await deliver(delivery_id, settings)

    results = await asyncio.gather(*(one(UUID(str(i))) for i in ids))
    return sum(1 for result in results if result is not None)
