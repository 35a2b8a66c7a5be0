"""The taskiq tasks: thin adapters from a message to one service call, under stable names."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from settings import Settings, get_settings
from tasks import queue
from tasks.broker import broker, is_embedded
from tasks.dependencies import is_unavailable
from tasks.runtime import lifecycle
from tasks.runtime.state import current
from tasks.service import webhook_delivery, webhooks
from tasks.service.archive import build_archive
from tasks.service.process import process_document
from tasks.service.range_process import process_range
from tasks.storage import open_storage

__all__ = ["archive_upload", "broker", "convert_document", "convert_range", "deliver_webhook"]

logger = logging.getLogger(__name__)

lifecycle.install(broker)


@broker.task(task_name=queue.CONVERT_DOCUMENT)
async def convert_document(document_id: str) -> None:
    """Convert one document (idempotent: a duplicate delivery finds the lease taken)."""
    settings = get_settings()
    state = current()
    async with _slot(settings):
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 (always inside a task here)
        state.running[task] = UUID(document_id)
        try:
            if await process_document(UUID(document_id), settings, state.worker_id):
                state.conversions_done += 1
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # The message is consumed: queue the document again once the dependency is back.
            state.missed.add(UUID(document_id))
            logger.warning("document %s waits for the database or Redis: %r", document_id, exc)
        finally:
            state.running.pop(task, None)


@broker.task(task_name=queue.CONVERT_RANGE)
async def convert_range(range_id: str, document_id: str | None = None) -> None:
    """Convert one page range of a big PDF (idempotent like convert_document)."""
    settings = get_settings()
    state = current()
    async with _slot(settings):
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 (always inside a task here)
        state.running[task] = UUID(document_id or range_id)
        try:
            await process_range(UUID(range_id), settings, state.worker_id)
        finally:
            state.running.pop(task, None)


@broker.task(task_name=queue.ARCHIVE_UPLOAD)
async def archive_upload(upload_id: str) -> None:
    """Build the zip of all pages of an upload, with its manifest.json."""
    settings = get_settings()
    await build_archive(UUID(upload_id), open_storage(settings))
    # The archive's URL is in the webhook body: its first attempt goes out now.
    await webhooks.send_planned(UUID(upload_id))


@broker.task(task_name=queue.DELIVER_WEBHOOK)
async def deliver_webhook(delivery_id: str) -> None:
    """Make one webhook attempt (a no-op unless it is due and unclaimed)."""
    await webhook_delivery.deliver(UUID(delivery_id), get_settings())


@asynccontextmanager
async def _slot(settings: Settings) -> AsyncIterator[None]:
    # In-memory tasks bypass taskiq's receiver limit: bound them here. In a worker process
    # the receiver's max_async_tasks bounds them (tasks/runtime/supervisor.py).
    if not is_embedded(broker):
        yield
        return
    state = current()
    if state.slots is None:
        state.slots = asyncio.Semaphore(settings.embedded_concurrency)
    async with state.slots:
        yield
