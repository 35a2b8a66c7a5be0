"""Cluster-wide processing switches and worker heartbeats, kept in the database."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import psutil
from tortoise.expressions import Subquery

from models.upload import Control, Document, Status, WorkerState
from settings import Settings

PAUSED = "paused"


async def is_paused() -> bool:
    """True while an operator has paused processing."""
    row = await Control.get_or_none(name=PAUSED)
    return row is not None and row.value == "1"


async def paused_and_document(document_id: UUID) -> tuple[bool, Document | None]:
    """Whether processing is paused, and the document (None: there is none) in one read;
    an unknown document reads as not paused."""
    flag = Subquery(Control.filter(name=PAUSED, value="1").values("name"))
    doc = await Document.filter(id=document_id).annotate(paused=flag).first()
    return doc is not None and getattr(doc, "paused", None) is not None, doc


async def set_paused(paused: bool) -> None:
    """Pause or resume processing everywhere (documents stay PENDING while paused)."""
    await Control.update_or_create(name=PAUSED, defaults={"value": "1" if paused else "0"})


@dataclass(frozen=True)
class ProcessingState:
    """What the pause/resume mutations and `admin` commands report."""

    paused: bool
    queued: int  # documents PENDING
    in_flight: int  # documents IN_PROGRESS
    workers: int  # live workers


async def processing_state(settings: Settings) -> ProcessingState:
    """Paused flag, queue depth, documents in flight and live workers right now."""
    return ProcessingState(
        paused=await is_paused(),
        queued=await Document.filter(status=Status.PENDING).count(),
        in_flight=await Document.filter(status=Status.IN_PROGRESS).count(),
        workers=len(await live_workers(settings)),
    )


async def pause(settings: Settings) -> ProcessingState:
    """Stop workers from starting new documents; the state afterwards."""
    await set_paused(True)
    return await processing_state(settings)


async def resume(settings: Settings) -> ProcessingState:
    """Let workers start new documents again; the state afterwards."""
    await set_paused(False)
    return await processing_state(settings)


def new_worker_id() -> str:
    """A unique id for this worker process (host, pid and a random part)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def heartbeat(
    worker_id: str,
    started_at: datetime,
    current_document: UUID | None,
    conversions_done: int,
) -> None:
    """Create or refresh this process's heartbeat row."""
    rss = psutil.Process().memory_info().rss
    for child in psutil.Process().children(recursive=True):
        try:
            rss += child.memory_info().rss
        except psutil.Error:
            continue
    await WorkerState.update_or_create(
        id=worker_id,
        defaults={
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": started_at,
            "heartbeat_at": datetime.now(UTC),
            "current_document": current_document,
            "conversions_done": conversions_done,
            "rss_bytes": rss,
        },
    )


async def remove_worker(worker_id: str) -> None:
    """Forget a worker that stops cleanly."""
    await WorkerState.filter(id=worker_id).delete()


async def live_workers(settings: Settings) -> list[WorkerState]:
    """Workers whose heartbeat is younger than three lease periods, oldest first."""
    cutoff = datetime.now(UTC) - timedelta(seconds=3 * settings.lease_seconds)
    return await WorkerState.filter(heartbeat_at__gte=cutoff).order_by("started_at")


async def prune_workers(settings: Settings) -> int:
    """Delete heartbeat rows of workers gone for a long time (ten lease periods)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=10 * settings.lease_seconds)
    return await WorkerState.filter(heartbeat_at__lt=cutoff).delete()
