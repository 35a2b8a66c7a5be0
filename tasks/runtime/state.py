"""What this process runs: made at worker startup (or on first use), never at import."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tasks.service.control import new_worker_id


@dataclass
class ProcessState:
    """The conversions of one worker process (read by heartbeats and the drain)."""

    worker_id: str
    started_at: datetime
    running: dict[asyncio.Task[Any], UUID] = field(default_factory=dict)
    conversions_done: int = 0
    slots: asyncio.Semaphore | None = None
    # Documents whose messages were consumed while PostgreSQL or Redis was down.
    missed: set[UUID] = field(default_factory=set)
    loops: list[asyncio.Task[None]] = field(default_factory=list)


_state: ProcessState | None = None


def current() -> ProcessState:
    """This process's state, made on first use (the id carries the pid of this process)."""
    global _state
    if _state is None:
        _state = ProcessState(worker_id=new_worker_id(), started_at=datetime.now(UTC))
    return _state
