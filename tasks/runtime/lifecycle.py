"""Startup and shutdown of a process that runs conversions: database and bus, heartbeat,
sweeper and webhook retry loops, the drain on SIGTERM with a hard stop behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from taskiq import AsyncBroker, TaskiqEvents, TaskiqState
from tortoise.context import get_current_context, set_global_context

from models.db import close_db, init_db
from settings import Settings, get_settings
from tasks.broker import ReconnectingStreamBroker, is_embedded
from tasks.bus import close_bus
from tasks.runtime import state as process_state
from tasks.sandbox.office_pool import close_shared_pool
from tasks.sandbox.pool import close_pool, get_pool, remove_orphan_scratch
from tasks.sandbox.slots import get_slots
from tasks.service.control import heartbeat, remove_worker
from tasks.service.recovery import requeue_missed
from tasks.service.sweeper import sweep
from tasks.service.webhook_delivery import deliver_due

logger = logging.getLogger(__name__)

# Broker shutdown (cancelling leftovers, handing documents back) gets this long.
SHUTDOWN_SECONDS = 15.0
RECOVERY_SECONDS = 1.0  # how often documents missed in an outage check for the database


def install(broker: AsyncBroker) -> None:
    """Run this process's startup and shutdown with the broker's worker events."""

    async def on_startup(state: TaskiqState) -> None:
        await start_runtime(state, broker)

    async def on_shutdown(state: TaskiqState) -> None:
        await stop_runtime(state, embedded=is_embedded(broker))

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, on_startup)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, on_shutdown)


async def start_runtime(state: TaskiqState, broker: AsyncBroker) -> None:
    """Worker startup: database and bus (worker processes), heartbeat and sweeper loops."""
    settings = get_settings()
    embedded = is_embedded(broker)
    if not embedded:
        await _open_db()
        _arm_hard_stop(settings)
        _requeue_on_reset(broker, settings)
    runtime = process_state.current()
    runtime.started_at = datetime.now(UTC)
    runtime.loops = [
        asyncio.create_task(_every(settings.lease_seconds / 3, _beat)),
        asyncio.create_task(_every(settings.sweep_interval, lambda: _sweep(settings))),
        asyncio.create_task(_every(settings.webhook_poll_interval, lambda: _deliver(settings))),
        asyncio.create_task(_every(RECOVERY_SECONDS, _recover)),
    ]
    state.runtime = runtime
    if removed := remove_orphan_scratch():
        logger.info("removed %d temporary folders of conversion children of dead workers", removed)
    # The first document should not wait for a conversion child's imports.
    runtime.loops.append(asyncio.create_task(_prewarm(settings)))
    logger.info("worker %s started (embedded=%s)", runtime.worker_id, embedded)


async def stop_runtime(state: TaskiqState, *, embedded: bool) -> None:
    """Worker shutdown: stop loops, stop leftover conversions, forget this worker."""
    runtime: process_state.ProcessState | None = getattr(state, "runtime", None)
    if runtime is None:
        return
    for loop_task in runtime.loops:
        loop_task.cancel()
    leftovers = list(runtime.running)
    for task in leftovers:
        # Cancelling kills the conversion child and hands the document back (service.process).
        task.cancel()
    if leftovers:
        logger.warning("stopping %d unfinished conversions", len(leftovers))
        await asyncio.wait(leftovers, timeout=SHUTDOWN_SECONDS / 2)
    await close_shared_pool()
    with contextlib.suppress(Exception):
        await remove_worker(runtime.worker_id)
    await close_pool()
    state.runtime = None
    if not embedded:
        await close_bus(get_settings())
        await close_db()


async def _open_db() -> None:
    await init_db()
    context = get_current_context()
    # taskiq runs shutdown in a new task that does not inherit the startup context: make this
    # process's only database context the global fallback.
    if context is not None:
        with contextlib.suppress(Exception):
            set_global_context(context)


def _cancel_running() -> None:
    running = process_state.current().running
    for task in list(running):
        logger.warning("drain period over: stopping conversion of %s", running[task])
        task.cancel()


def _arm_hard_stop(settings: Settings) -> None:
    # taskiq drains on SIGTERM/SIGINT, but stopping the stream reader was seen to hang: after
    # the drain and shutdown budgets, leave regardless.
    budget = settings.drain_seconds + SHUTDOWN_SECONDS + 5.0
    armed = threading.Event()

    loop = asyncio.get_running_loop()

    def hard_stop() -> None:
        logger.error("worker did not stop within %.0fs; exiting hard", budget)
        os._exit(1)

    def drain_deadline() -> None:
        # taskiq waits for running tasks without a limit (a recycling process must finish its
        # last conversion); on a signal, conversions still running after the drain period
        # are cancelled, which kills their child and hands the document back.
        loop.call_later(settings.drain_seconds, _cancel_running)

    def chain(previous: Any) -> Callable[[int, FrameType | None], None]:
        def handler(signum: int, frame: FrameType | None) -> None:
            if not armed.is_set():
                armed.set()
                timer = threading.Timer(budget, hard_stop)
                timer.daemon = True
                timer.start()
                loop.call_soon_threadsafe(drain_deadline)
            if callable(previous):
                previous(signum, frame)

        return handler

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, chain(signal.getsignal(sig)))


def _requeue_on_reset(broker: AsyncBroker, settings: Settings) -> None:
    async def requeue_all() -> None:
        # Every queued message went with the old Redis: queue each unfinished document again
        # now rather than after the pending grace period (duplicates find the lease taken).
        queued = await sweep(settings, pending_after=0)
        logger.warning("Redis came back empty: %d documents queued again", len(queued))

    if isinstance(broker, ReconnectingStreamBroker) and not broker.on_reset:
        broker.on_reset.append(requeue_all)


async def _every(seconds: float, step: Callable[[], Awaitable[None]]) -> None:
    # Jittered so many processes do not hit the database in lockstep.
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background step failed")
        await asyncio.sleep(seconds * random.uniform(0.8, 1.2))  # noqa: S311


async def _recover() -> None:
    state = process_state.current()
    await requeue_missed(state.missed, state.worker_id)


async def _prewarm(settings: Settings) -> None:
    try:
        async with get_slots(settings).hold():  # its imports are a core's work too
            await get_pool().prewarm(settings)
    except Exception:
        logger.warning("could not start a conversion child ahead of work", exc_info=True)


async def _beat() -> None:
    runtime = process_state.current()
    current = next(iter(runtime.running.values()), None)
    await heartbeat(runtime.worker_id, runtime.started_at, current, runtime.conversions_done)


async def _deliver(settings: Settings) -> None:
    await deliver_due(settings)


async def _sweep(settings: Settings) -> None:
    await sweep(settings)
