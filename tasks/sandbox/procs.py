"""What conversion children and LibreOffice bridges share: a stderr tail, a kill of the
whole process group, and the error code an exit status stands for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

# Signals that, under an address-space cap, mean "ran out of memory": the OOM killer sends
# SIGKILL, a failed allocation in C code often ends in SIGSEGV or SIGBUS, and PDFium calls
# abort() when one of its allocations fails (FX_OutOfMemoryTerminate, core/fxcrt/fx_memory.cpp).
MEMORY_SIGNALS = frozenset({signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT})
MEMORY_MARKERS = ("MemoryError", "cache resources exhausted", "std::bad_alloc", "VMerror")


async def drain_tail(stream: asyncio.StreamReader | None, keep: bytearray, limit: int) -> None:
    """Keeps the last `limit` bytes of a child's stderr (a full pipe would block the child)."""
    if stream is None:
        return
    while chunk := await stream.read(65536):
        keep += chunk
        del keep[:-limit]


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by pid, reaching what the process started too."""
    # The group id is the leader's pid (start_new_session); it stays reserved while any
    # member lives, so this cannot hit an unrelated group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def exit_code(returncode: int, stderr: str = "") -> str:
    """RESOURCE_LIMIT when the exit looks like memory ran out, else WORKER_CRASHED."""
    if returncode < 0:
        killed = signal.Signals(-returncode) in MEMORY_SIGNALS
        return "RESOURCE_LIMIT" if killed else "WORKER_CRASHED"
    memory = any(marker in stderr for marker in MEMORY_MARKERS)
    return "RESOURCE_LIMIT" if memory else "WORKER_CRASHED"


def last_line(stderr: str) -> str:
    """The last line of a stderr tail, cut to 300 characters ("" when empty)."""
    lines = stderr.strip().splitlines()
    return lines[-1][:300] if lines else ""
