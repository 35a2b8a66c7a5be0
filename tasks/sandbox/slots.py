"""Conversion slots: how many conversions (a child's job, or LibreOffice's) one process runs
at once. A process keeps more documents in flight than it has slots, so that one document
makes its database and Redis round trips while another's child has the CPU."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path

from settings import Settings

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Cores this process may run on: its CPU affinity, lowered by a cgroup v2 CPU quota (a
    container started with --cpus sees every core of the host but gets only its quota)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def slot_count(settings: Settings, processes: int = 1, cores: int | None = None) -> int:
    """Conversion slots of each of `processes` processes on this host: `worker_children` when
    set, else the usable cores shared among the processes, at least one each."""
    if settings.worker_children > 0:
        return settings.worker_children
    return max(1, (usable_cores() if cores is None else cores) // max(1, processes))


class Slots:
    """At most `size` conversions of this event loop's process at once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.loop = asyncio.get_running_loop()
        self.waiting = 0
        self._free = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Wait for a free slot and keep it for the block."""
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._free.release()


_size: int | None = None
_slots: Slots | None = None


def configure(size: int) -> None:
    """Fix this process's slot count (a `pagemill worker` process: its share of the cores)."""
    global _size, _slots
    _size, _slots = size, None


def get_slots(settings: Settings) -> Slots:
    """This process's slots, made on first use in the running event loop: as configured,
    else one process's share of the cores (the embedded API, tests)."""
    global _slots
    if _slots is None or _slots.loop is not asyncio.get_running_loop():
        _slots = Slots(_size or slot_count(settings))
    return _slots
