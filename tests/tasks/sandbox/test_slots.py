"""Conversion slots: sized from the host's cores and `pagemill worker --processes`, and
never more conversions at once than slots."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from settings import Settings
from tasks.runtime.supervisor import in_flight
from tasks.sandbox.slots import Slots, configure, get_slots, slot_count, usable_cores


def test_slots_share_the_cores_among_the_processes() -> None:
    settings = Settings(worker_children=0)
    assert slot_count(settings, processes=1, cores=8) == 8
    assert slot_count(settings, processes=2, cores=8) == 4
    assert slot_count(settings, processes=3, cores=8) == 2
    assert slot_count(settings, processes=2, cores=2) == 1
    assert slot_count(settings, processes=4, cores=2) == 1  # never none


def test_worker_children_overrides_the_cores() -> None:
    assert slot_count(Settings(worker_children=1), processes=1, cores=8) == 1
    assert slot_count(Settings(worker_children=3), processes=4, cores=2) == 3


def test_default_slots_are_this_hosts_usable_cores() -> None:
    assert slot_count(Settings(), processes=1) == usable_cores() == len(os.sched_getaffinity(0))


def test_a_cgroup_cpu_quota_lowers_the_cores(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")  # docker --cpus 1.5
    assert usable_cores(cpu_max) == min(2, len(os.sched_getaffinity(0)))
    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max) == len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path / "absent") == len(os.sched_getaffinity(0))


def test_a_worker_process_keeps_two_documents_in_flight_per_slot() -> None:
    assert in_flight(Settings(worker_concurrency=0), slots=1) == 2
    assert in_flight(Settings(worker_concurrency=0), slots=4) == 8
    assert in_flight(Settings(worker_concurrency=3), slots=4) == 3


async def test_no_more_conversions_at_once_than_slots() -> None:
    slots = Slots(2)
    running = 0
    most = 0

    async def convert() -> None:
        nonlocal running, most
        async with slots.hold():
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1

    tasks = [asyncio.create_task(convert()) for _ in range(6)]
    await asyncio.sleep(0)
    assert slots.waiting == 4
    await asyncio.gather(*tasks)
    assert (most, slots.waiting) == (2, 0)


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    slots = Slots(1)
    async with slots.hold():
        waiter = asyncio.create_task(slots.hold().__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert slots.waiting == 0
    async with asyncio.timeout(1):
        async with slots.hold():
            pass


async def test_a_worker_process_uses_the_slots_its_supervisor_gave_it() -> None:
    try:
        configure(3)
        assert get_slots(Settings(worker_children=1)).size == 3
        configure(0)  # not configured: one process's share, from the settings
        assert get_slots(Settings(worker_children=1)).size == 1
    finally:
        configure(0)  # later tests get the default slots again
