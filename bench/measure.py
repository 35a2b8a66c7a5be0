"""Run a command and measure its wall time and the peak RSS of its whole process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

MiB = 1024 * 1024
SAMPLE_SECONDS = 0.01


@dataclass(frozen=True)
class Run:
    """One measured run: wall and CPU seconds, peak tree RSS in bytes, and the stdout."""

    seconds: float
    cpu_seconds: float  # user + system of the whole tree: robust to other load on the host
    peak_rss: int
    stdout: bytes


class TreeSampler(threading.Thread):
    """Sums the RSS of a process and all its descendants every few milliseconds, and keeps
    the largest high-water mark any one of them reached."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.largest = 0
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                with contextlib.suppress(
                    psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied
                ):
                    total += proc.memory_info().rss
                self.largest = max(self.largest, _high_water(proc.pid))
            self.peak = max(self.peak, total)
            self.stop.wait(SAMPLE_SECONDS)


def measure(
    cmd: list[str],
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> Run:
    """Run `cmd` to completion; fail loudly when it exits non-zero. Past `timeout` seconds
    its process group is killed and TimeoutError raised.

    Peak RSS is the larger of the sampled tree sum and the kernel's own high-water mark of
    the largest single process of the tree (VmHWM, polled), which catches spikes between
    samples. Not wait4's ru_maxrss: Linux folds the parent's high-water mark into a child's
    at exec, so every child of a benchmark that just built a 108 MP input "peaked" at 1.3 GB.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    timer = threading.Timer(timeout or 0, lambda: _kill_group(proc.pid))
    if timeout:
        timer.start()
    sampler = TreeSampler(proc.pid)
    sampler.start()
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read()) if proc.stdout else None),
        threading.Thread(target=lambda: err.append(proc.stderr.read()) if proc.stderr else None),
    ]
    for reader in readers:
        reader.start()
    if proc.stdin:
        proc.stdin.write(stdin or b"")
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop.set()
    sampler.join()
    for reader in readers:
        reader.join()
    if timeout and seconds >= timeout:
        raise TimeoutError(f"stopped after {timeout:.0f}s")
    if proc.returncode != 0:
        raise RuntimeError(
            f"{cmd[0]} exited {proc.returncode}: {b''.join(err).decode(errors='replace')[-800:]}"
        )
    peak = max(sampler.peak, sampler.largest)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds=seconds, cpu_seconds=cpu, peak_rss=peak, stdout=b"".join(out))


def _high_water(pid: int) -> int:
    """VmHWM: the peak RSS of a process since it last exec'd, in bytes (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def median(values: list[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank, or NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
