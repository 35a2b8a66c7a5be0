"""What `pagemill worker` runs: taskiq worker processes, kept alive and drained on SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from types import FrameType

from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.run import start_listen

from settings import Settings, get_settings
from tasks.logs import setup_logging
from tasks.runtime.lifecycle import SHUTDOWN_SECONDS
from tasks.sandbox.slots import configure as configure_slots
from tasks.sandbox.slots import slot_count

logger = logging.getLogger(__name__)

RESTART_BACKOFF = 2.0  # seconds a worker process must have lived to be restarted at once


def main(processes: int = 1) -> int:
    """Start `processes` taskiq worker processes on the Redis broker and supervise them."""
    settings = get_settings()
    if not settings.redis_url:
        raise SystemExit("pagemill worker needs PAGEMILL_REDIS_URL (the embedded API converts)")
    slots = slot_count(settings, processes)
    args = WorkerArgs(
        broker="tasks.runtime.tasks:broker",
        modules=["tasks.runtime.tasks"],
        workers=processes,
        log_level=settings.log_level.upper(),  # type: ignore[arg-type]
        # Nothing prefetched: a message waits in Redis for whichever process is free.
        max_async_tasks=in_flight(settings, slots),
        max_prefetch=0,
        # A process leaves after this many messages; the supervisor starts a fresh one.
        max_tasks_per_child=settings.recycle_after,
        wait_tasks_timeout=None,  # the drain deadline is enforced by _arm_hard_stop
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    setup_logging(settings.log_level, settings.log_json)
    logger.info(
        "%d worker processes, each with %d conversion slots and %d documents in flight",
        processes, slots, args.max_async_tasks,
    )  # fmt: skip
    budget = settings.drain_seconds + SHUTDOWN_SECONDS + 10.0
    return Supervisor(args, processes, budget, slots).run()


def in_flight(settings: Settings, slots: int) -> int:
    """Documents one worker process handles at once: `worker_concurrency`, else two per
    conversion slot (one converting while the next makes its round trips; more would hold
    messages that an idle process on another host could take)."""
    return settings.worker_concurrency or 2 * slots


def _listen(args: WorkerArgs, slots: int) -> None:
    # Runs in the new worker process, whatever the multiprocessing start method.
    configure_slots(slots)
    start_listen(args)


class Supervisor:
    """Keeps N taskiq worker processes (taskiq's own start_listen) alive; drains on SIGTERM.

    taskiq's ProcessManager puts to a multiprocessing queue from its signal handler, which
    deadlocks when a second signal lands inside the first put (e.g. `uv run` forwarding
    SIGTERM to a process that got it from its group too). This handler only sets a flag.
    """

    def __init__(self, args: WorkerArgs, processes: int, budget: float, slots: int) -> None:
        self.args = args
        self.processes = processes
        self.budget = budget
        self.slots = slots
        self.stopping = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _spawn(self, number: int) -> multiprocessing.Process:
        child = multiprocessing.Process(
            target=_listen,
            kwargs={"args": self.args, "slots": self.slots},
            name=f"worker-{number}",
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
