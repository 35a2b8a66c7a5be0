"""Warm conversion children: `python -m tasks.sandbox.child` processes kept between documents.

Starting a child costs ~0.8 s of imports, more than converting a small image; a pool per
process hands out idle children and replaces them after `child_max_jobs` documents or after
anything that may have left one in a bad state (a kill, a timeout, a crash, a memory error).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settings import Settings
from tasks.engine.scratch import make_scratch, remove_orphans
from tasks.sandbox.procs import drain_tail, kill_group

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STDERR_KEEP = 64 * 1024
SCRATCH_PREFIX = "pagemill-child-"
# Per set of resources. Children in use never outnumber the process's conversion slots
# (tasks/sandbox/slots.py), so neither do idle ones; this caps a process given many slots.
MAX_IDLE = 4


def resources_of(settings: Settings) -> dict[str, Any]:
    """The limits a child is started with (children are only reused with the same ones)."""
    return {
        "memory_limit_mb": settings.memory_limit_mb,
        "magick_memory_mb": settings.magick_memory_mb,
        "magick_disk_mb": settings.magick_disk_mb,
        "thread_limit": settings.thread_limit,
        "image_engine": settings.image_engine,
    }


@dataclass(eq=False)
class Child:
    """One conversion child with its stderr tail."""

    proc: asyncio.subprocess.Process
    key: str
    max_jobs: int
    stderr: bytearray = field(default_factory=bytearray)
    drain: asyncio.Task[None] | None = None
    jobs: int = 0
    scratch: Path | None = None  # its TMPDIR (Ghostscript's files), removed when it stops

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def send(self, job: dict[str, Any]) -> None:
        """Write one job line (a child that already died shows up as EOF on read)."""
        if self.proc.stdin is None:
            raise RuntimeError("child stdin not piped")
        self.jobs += 1
        self.stderr.clear()
        self.proc.stdin.write(json.dumps(job).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()

    async def acknowledge(self) -> None:
        """Let the child render its next page."""
        if self.proc.stdin is None:
            raise RuntimeError("child stdin not piped")
        self.proc.stdin.write(b"next\n")
        with contextlib.suppress(ConnectionError):
            await self.proc.stdin.drain()

    async def readline(self) -> bytes:
        """The next protocol line, b"" once the child closed stdout."""
        if self.proc.stdout is None:
            raise RuntimeError("child stdout not piped")
        return await self.proc.stdout.readline()

    def kill(self) -> None:
        """SIGKILL the child's process group, reaching a Ghostscript it runs too."""
        kill_group(self.proc.pid)

    async def stop(self) -> int:
        """Kill the child and reap it; its exit status."""
        self.kill()
        code = await self.proc.wait()
        await self._finish_drain()
        self._remove_scratch()
        return code

    def _remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    async def _finish_drain(self) -> None:
        if self.drain is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.drain), timeout=5)
        except TimeoutError:
            self.drain.cancel()

    async def exit_status(self) -> int:
        """Wait for a child that closed stdout to exit (it is killed if it lingers)."""
        try:
            code = await asyncio.wait_for(asyncio.shield(self.proc.wait()), timeout=5)
        except TimeoutError:
            code = await self.stop()
        self.kill()  # a Ghostscript it left behind would still be in the group
        await self._finish_drain()
        self._remove_scratch()
        return code

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


class ChildPool:
    """Idle children of this process's event loop, by the resources they were started with."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.idle: dict[str, list[Child]] = {}
        self.busy: set[Child] = set()
        self.closed = False

    async def acquire(self, settings: Settings) -> Child:
        """An idle child started with these settings' limits, or a new one."""
        resources = resources_of(settings)
        key = json.dumps([resources, settings.child_max_jobs], sort_keys=True)
        idle = self.idle.get(key, [])
        while idle:
            child = idle.pop()
            if child.alive:
                self.busy.add(child)
                return child
            await child.exit_status()
        child = await self._spawn(key, resources, settings.child_max_jobs)
        self.busy.add(child)
        return child

    async def release(self, child: Child, *, reusable: bool) -> None:
        """Take a child back after a job; it is stopped unless it can serve another."""
        self.busy.discard(child)
        idle = self.idle.setdefault(child.key, [])
        fresh = child.alive and child.jobs < child.max_jobs and len(idle) < MAX_IDLE
        if reusable and fresh and not self.closed:
            idle.append(child)
            return
        await child.stop()

    async def prewarm(self, settings: Settings) -> None:
        """Start a child now, so the first document does not wait for its imports."""
        child = await self.acquire(settings)
        await self.release(child, reusable=True)

    async def _spawn(self, key: str, resources: dict[str, Any], max_jobs: int) -> Child:
        scratch = make_scratch(SCRATCH_PREFIX)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tasks.sandbox.child",
            json.dumps({**resources, "parent": os.getpid()}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: one kill reaches Ghostscript too
            cwd=PROJECT_ROOT,
            env={**os.environ, "TMPDIR": str(scratch)},
        )
        child = Child(proc, key, max_jobs, scratch=scratch)
        child.drain = asyncio.create_task(drain_tail(proc.stderr, child.stderr, STDERR_KEEP))
        logger.debug("started conversion child %d", proc.pid)
        return child

    async def close(self) -> None:
        """Stop every idle child; children in use are stopped when released."""
        self.closed = True
        children = [child for idle in self.idle.values() for child in idle]
        self.idle.clear()
        await asyncio.gather(*(child.stop() for child in children), return_exceptions=True)


def remove_orphan_scratch() -> int:
    """Remove the temporary folders of children whose worker died (SIGKILL leaves them);
    how many. Each folder is named after the pid of the worker that started the child."""
    return remove_orphans(SCRATCH_PREFIX)


_pool: ChildPool | None = None


def get_pool() -> ChildPool:
    """This process's pool, bound to the running event loop."""
    global _pool
    loop = asyncio.get_running_loop()
    if _pool is None or _pool.loop is not loop or _pool.closed:
        if _pool is not None and _pool.loop is not loop:
            # Children of another (finished) loop cannot be awaited here: just kill them.
            for idle in _pool.idle.values():
                for child in idle:
                    child.kill()
        _pool = ChildPool()
    return _pool


async def close_pool() -> None:
    """Stop this process's idle children (worker or embedded API shutting down)."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None and pool.loop is asyncio.get_running_loop():
        await pool.close()
