"""pagemill's side of a conversion measurement: a warm conversion child, as a worker keeps one.

The child is started and warmed on a tiny input of the same kind (libraries loaded, coders
mapped), then each measured job is timed from the job line to its last protocol line. Peak
RSS per job is the larger of the sampled tree (child plus Ghostscript) and the child's own
kernel high-water mark, reset before each job through /proc/<pid>/clear_refs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import psutil

from bench.measure import Run, TreeSampler

if TYPE_CHECKING:
    from bench.inputs import Input

PROJECT = Path(__file__).resolve().parents[1]


def child_argv(*, direct: bool = True) -> list[str]:
    """The command line of a conversion child; `direct=False` when a wrapper (time, py-spy)
    starts it, so that it does not wait for this process to be its parent."""
    from settings import Settings
    from tasks.sandbox.pool import resources_of

    resources = {**resources_of(Settings()), "parent": os.getpid() if direct else 0}
    return [sys.executable, "-m", "tasks.sandbox.child", json.dumps(resources)]


class WarmChild:
    """`python -m tasks.sandbox.child` kept running across measured jobs."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc = subprocess.Popen(
            child_argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=PROJECT,
            text=True,
            start_new_session=True,
        )
        self.ps = psutil.Process(self.proc.pid)

    def __enter__(self) -> WarmChild:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close its stdin (it exits) and reap it."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def job(self, payload: dict[str, Any]) -> tuple[list[dict[str, Any]], Run]:
        """Run one job; its protocol lines and the measurement."""
        stdin: IO[str] = self.proc.stdin  # type: ignore[assignment]
        stdout: IO[str] = self.proc.stdout  # type: ignore[assignment]
        _reset_peak(self.proc.pid)
        cpu = self._cpu()
        sampler = TreeSampler(self.proc.pid)
        start = time.perf_counter()
        sampler.start()
        stdin.write(json.dumps(payload) + "\n")
        stdin.flush()
        lines: list[dict[str, Any]] = []
        while not lines or lines[-1].get("event") not in ("done", "error"):
            raw = stdout.readline()
            if not raw:
                raise RuntimeError(f"conversion child died (exit {self.proc.wait()})")
            lines.append(json.loads(raw))
        seconds = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
        peak = max(sampler.peak, sampler.largest, _high_water(self.proc.pid))
        return lines, Run(seconds, self._cpu() - cpu, peak, b"")

    def _cpu(self) -> float:
        # Reaped Ghostscripts count in children_*.
        t = self.ps.cpu_times()
        return t.user + t.system + t.children_user + t.children_system


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _high_water(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child_job(inp: Input, pages_dir: Path) -> dict[str, object]:
    """The job a worker hands its conversion child for `inp`."""
    from settings import Settings
    from tasks.sandbox.runner import ConversionJob, job_payload

    return job_payload(
        ConversionJob(source=inp.path, kind=inp.kind, pages_dir=pages_dir), Settings()
    )


def child_env(home: Path) -> dict[str, str]:
    """The environment of every measured process: one thread, a private $HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(
        HOME=str(home),
        MAGICK_THREAD_LIMIT="1",
        OMP_NUM_THREADS="1",
        VIPS_CONCURRENCY="1",
        PAGEMILL_STORAGE_DIR=str(home / "storage"),
    )
    return env
