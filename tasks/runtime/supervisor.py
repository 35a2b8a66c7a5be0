"""What `pagemill worker` runs: taskiq worker processes plus heartbeats, sweeper and drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from taskiq import TaskiqState
from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.run import start_listen

from settings import Settings, get_settings
from tasks.logs import setup_logging

logger = logging.getLogger(__name__)

# Broker shutdown (cancelling leftovers, handing documents back) gets this long.
SHUTDOWN_SECONDS = 15.0
RESTART_BACKOFF = 2.0  # seconds a worker process must have lived to be restarted at once


@dataclass
class Runtime:
    """Background loops of one process that runs conversions."""

    worker_id: str
    started_at: datetime
    loops: list[asyncio.Task[None]] = field(default_factory=list)


def main(processes: int = 1) -> int:
    """Start `processes` taskiq worker processes on the Redis broker and supervise them."""
    settings = get_settings()
    if not settings.redis_url:
        raise SystemExit("pagemill worker needs PAGEMILL_REDIS_URL (the embedded API converts)")
    args = WorkerArgs(
        broker="tasks.broker:broker",
        modules=["tasks.convert"],
        workers=processes,
        log_level=settings.log_level.upper(),  # type: ignore[arg-type]
        # One conversion at a time per process and nothing prefetched: scale with processes.
        max_async_tasks=1,
        max_prefetch=0,
        # A process leaves after this many messages; the supervisor starts a fresh one.
        max_tasks_per_child=settings.recycle_after,
        wait_tasks_timeout=None,  # the drain deadline is enforced by _arm_hard_stop
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    setup_logging(settings.log_level, settings.log_json)
    budget = settings.drain_seconds + SHUTDOWN_SECONDS + 10.0
    return Supervisor(args, processes, budget).run()


class Supervisor:
    """Keeps N taskiq worker processes (taskiq's own start_listen) alive; drains on SIGTERM.

    taskiq's ProcessManager puts to a multiprocessing queue from its signal handler, which
    deadlocks when a second signal lands inside the first put (e.g. `uv run` forwarding
    SIGTERM to a process that got it from its group too). This handler only sets a flag.
    """

    def __init__(self, args: WorkerArgs, processes: int, budget: float) -> None:
        self.args = args
        self.processes = processes
        self.budget = budget
        self.stopping = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _spawn(self, number: int) -> multiprocessing.Process:
        child = multiprocessing.Process(
            target=start_listen, kwargs={"args": self.args}, name=f"worker-{number}"
        )
        child.start()
        logger.info("started worker-%d (pid %s)", number, child.pid)
        return child

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT, then drain with a hard stop after the budget."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        children = [self._spawn(n) for n in range(self.processes)]
        started = [time.monotonic()] * self.processes
        while not self.stopping:
            time.sleep(0.2)
            for number, child in enumerate(children):
                if child.is_alive() or self.stopping:
                    continue
                # A process that dies right after starting (database down...) is not
                # restarted in a tight loop.
                if time.monotonic() - started[number] < RESTART_BACKOFF:
                    continue
                child.join()
                logger.info("worker-%d exited (code %s); restarting", number, child.exitcode)
                children[number] = self._spawn(number)
                started[number] = time.monotonic()
        return self._drain(children)

    def _drain(self, children: list[multiprocessing.Process]) -> int:
        logger.info("draining %d worker processes", len(children))
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.budget
        for child in children:
            child.join(timeout=max(0.0, deadline - time.monotonic()))
        stuck = [child for child in children if child.is_alive()]
        for child in stuck:
            logger.error("worker pid %s did not stop in %.0fs; killing it", child.pid, self.budget)
            child.kill()
            child.join()
        return 1 if stuck else 0


async def start_runtime(state: TaskiqState, *, embedded: bool) -> None:
    """Worker startup: database and bus (worker processes), heartbeat and sweeper loops."""
    from tasks.convert import WORKER_ID

    settings = get_settings()
    if not embedded:
        await _open_db()
        _arm_hard_stop(settings)
        _requeue_on_reset(settings)
    runtime = Runtime(worker_id=WORKER_ID, started_at=datetime.now(UTC))
    runtime.loops = [
        asyncio.create_task(_every(settings.lease_seconds / 3, lambda: _beat(runtime))),
        asyncio.create_task(_every(settings.sweep_interval, lambda: _sweep(settings))),
    ]
    state.runtime = runtime
    # The first document should not wait for a conversion child's imports.
    runtime.loops.append(asyncio.create_task(_prewarm(settings)))
    logger.info("worker %s started (embedded=%s)", runtime.worker_id, embedded)


async def stop_runtime(state: TaskiqState, *, embedded: bool) -> None:
    """Worker shutdown: stop loops, stop leftover conversions, forget this worker."""
    from models.db import close_db
    from tasks.children import close_pool
    from tasks.control import remove_worker
    from tasks.convert import Activity
    from tasks.events import close_bus
    from tasks.office_pool import close_shared_pool

    runtime: Runtime | None = getattr(state, "runtime", None)
    if runtime is None:
        return
    for loop_task in runtime.loops:
        loop_task.cancel()
    leftovers = list(Activity.running)
    for task in leftovers:
        # Cancelling kills the conversion child and hands the document back (convert.py).
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
    from tortoise.context import get_current_context, set_global_context

    from models.db import init_db

    await init_db()
    context = get_current_context()
    # taskiq runs shutdown in a new task that does not inherit the startup context: make this
    # process's only database context the global fallback.
    if context is not None:
        with contextlib.suppress(Exception):
            set_global_context(context)


def _cancel_running() -> None:
    from tasks.convert import Activity

    for task in list(Activity.running):
        logger.warning("drain period over: stopping conversion of %s", Activity.running[task])
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


def _requeue_on_reset(settings: Settings) -> None:
    from tasks.broker import ReconnectingStreamBroker, broker

    async def requeue_all() -> None:
        from tasks.sweeper import sweep

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


async def _prewarm(settings: Settings) -> None:
    from tasks.children import get_pool

    try:
        await get_pool().prewarm(settings)
    except Exception:
        logger.warning("could not start a conversion child ahead of work", exc_info=True)


async def _beat(runtime: Runtime) -> None:
    from tasks.control import heartbeat
    from tasks.convert import Activity

    current = next(iter(Activity.running.values()), None)
    await heartbeat(runtime.worker_id, runtime.started_at, current, Activity.conversions_done)


async def _sweep(settings: Settings) -> None:
    from tasks.sweeper import sweep

    await sweep(settings)
