"""One warm LibreOffice of a worker process: a long-lived bridge and its soffice.

Each instance is tasks/sandbox/office_bridge.py run by the system Python (which has `uno`) in a
private network namespace and a process group of its own; it starts soffice once and then
converts one document at a time. An instance is replaced after `office_recycle_after`
documents and after any failure; past `office_timeout` its whole process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import psutil

from settings import Settings
from tasks.engine import office
from tasks.engine.errors import ConversionError
from tasks.engine.kinds import EXTENSIONS
from tasks.sandbox.office_jail import (
    UNO_PORT,
    free_port,
    jail_prefix,
    soffice_binary,
    unoserver_dir,
)
from tasks.sandbox.procs import drain_tail, exit_code, kill_group, last_line

logger = logging.getLogger(__name__)

BRIDGE = Path(__file__).resolve().with_name("office_bridge.py")
START_SECONDS = 60.0  # a cold LibreOffice with a fresh profile starts in 2-5 s
REAP_SECONDS = 10.0
STDERR_KEEP = 16 * 1024
PROFILE_PREFIX = "pagemill-office-"
_EOF: dict[str, Any] = {}


class OfficeServer:
    """One bridge and its soffice; converts one document at a time."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.pid: int | None = None  # soffice's, while an instance runs
        self.conversions = 0  # by the running instance
        self.profile: Path | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._stderr = bytearray()
        self._readers: list[asyncio.Task[None]] = []
        self._reaping: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    @property
    def bridge_pid(self) -> int | None:
        """The bridge's pid (also its process group), while an instance runs."""
        return self._proc.pid if self._proc is not None else None

    async def to_pdf(self, source: Path, kind: str, target: Path, settings: Settings) -> None:
        """Writes source's PDF to target (atomically); raises ConversionError."""
        async with self._lock:
            if not self._alive():
                await self._start(settings)
            work = Path(tempfile.mkdtemp(prefix="office-", dir=target.parent))
            try:
                # LibreOffice picks its import filter partly by extension: name it by kind.
                named = work / f"document.{EXTENSIONS[kind]}"
                os.symlink(source.resolve(), named)
                produced = work / "document.pdf"
                await self._convert(named, produced, settings)
                if not produced.is_file() or produced.stat().st_size == 0:
                    raise ConversionError("CORRUPT_FILE", "LibreOffice wrote no PDF")
                os.replace(produced, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    async def _convert(self, source: Path, target: Path, settings: Settings) -> None:
        try:
            async with asyncio.timeout(settings.office_timeout):
                reply = await self._request({"source": str(source), "target": str(target)})
        except TimeoutError:
            self.retire()
            message = f"LibreOffice took longer than {settings.office_timeout:g} s"
            raise ConversionError("TIMEOUT", message) from None
        except BaseException:  # cancelled (lease lost, worker stopping): state unknown
            self.retire()
            raise
        self.conversions += 1
        if not reply.get("ok"):
            self.retire()  # any failure: the next document gets a fresh LibreOffice
            raise _failure(reply, self._stderr, source)
        if self.conversions >= settings.office_recycle_after:
            self.retire()

    async def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None  # noqa: S101 (started above)
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        with contextlib.suppress(ConnectionError):  # a dead bridge shows as EOF below
            await proc.stdin.drain()
        return await self._replies.get()

    def _alive(self) -> bool:
        # A reply waiting before any request is soffice's exit (or EOF) while idle.
        return self._proc is not None and self._proc.returncode is None and self._replies.empty()

    async def _start(self, settings: Settings) -> None:
        self.retire()
        self.profile = Path(tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-"))
        user = self.profile / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(office.REGISTRY)
        jail = await jail_prefix()
        command = [
            *jail, settings.office_python, "-I", str(BRIDGE),
            "--unoserver", str(unoserver_dir()), "--profile", str(self.profile),
            "--port", str(UNO_PORT if jail else free_port()), "--soffice", soffice_binary(),
            "--memory-limit-mb", str(settings.office_memory_limit_mb),
            *(["--loopback-up"] if jail else []),
        ]  # fmt: skip
        self._stderr = bytearray()  # the retired instance's drain may still write to the old one
        self._replies = asyncio.Queue()
        self._proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: one kill reaches soffice too
        )
        self._readers = [
            asyncio.create_task(_read_replies(self._proc, self._replies)),
            asyncio.create_task(drain_tail(self._proc.stderr, self._stderr, STDERR_KEEP)),
        ]
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        try:
            async with asyncio.timeout(START_SECONDS):
                ready = await self._replies.get()
        except TimeoutError:
            ready = {}
        except BaseException:
            self.retire()
            raise
        if not ready.get("ready"):
            await asyncio.wait(self._readers, timeout=2)  # the bridge's last words, if any
            self.retire()
            detail = _last_line(self._stderr) or "no answer"
            raise ConversionError("WORKER_CRASHED", f"LibreOffice did not start: {detail}")
        self.pid = int(ready["pid"])
        self.conversions = 0
        logger.info("LibreOffice started (slot %d, pid %d)", self.slot, self.pid)

    def retire(self) -> None:
        """Kills the running instance, if any (its profile goes once it has exited)."""
        proc, soffice, profile, readers = self._proc, self.pid, self.profile, self._readers
        self._proc, self.profile, self.pid, self._readers = None, None, None, []
        if proc is None:
            if profile is not None:
                shutil.rmtree(profile, ignore_errors=True)
            return
        kill_group(proc.pid)
        task = asyncio.create_task(_reap(proc, soffice, profile, readers))
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)

    async def close(self) -> None:
        """Stops the instance and waits until it and its profile are gone."""
        async with self._lock:
            self.retire()
            if self._reaping:
                await asyncio.wait(set(self._reaping))


async def _read_replies(proc: asyncio.subprocess.Process, replies: asyncio.Queue[Any]) -> None:
    assert proc.stdout is not None  # noqa: S101 (piped)
    async for raw in proc.stdout:
        try:
            reply = json.loads(raw)
        except ValueError:
            logger.warning("LibreOffice bridge wrote a stray line: %r", raw[:200])
            continue
        if isinstance(reply, dict):
            replies.put_nowait(reply)
    replies.put_nowait(_EOF)


async def _reap(
    proc: asyncio.subprocess.Process,
    soffice: int | None,
    profile: Path | None,
    readers: list[asyncio.Task[None]],
) -> None:
    await proc.wait()
    if soffice is not None:
        await _gone(soffice)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    if profile is not None:
        shutil.rmtree(profile, ignore_errors=True)


async def _gone(pid: int) -> None:
    # soffice is the bridge's child, killed with it but reaped by init: wait until it is.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REAP_SECONDS
    while loop.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        await asyncio.sleep(0.05)
    logger.warning("LibreOffice pid %d still there %.0f s after its kill", pid, REAP_SECONDS)


def _failure(reply: dict[str, Any], stderr: bytearray, source: Path) -> ConversionError:
    if "exited" in reply:
        status = int(reply["exited"])
        if status < 0:
            killed = signal.Signals(-status).name
            return ConversionError(exit_code(status), f"LibreOffice was killed by {killed}")
        return ConversionError("WORKER_CRASHED", f"LibreOffice exited with status {status}")
    if reply is _EOF:
        detail = _last_line(stderr) or "no detail"
        logger.warning("LibreOffice bridge died: %s", stderr.decode("utf-8", "replace")[-2000:])
        return ConversionError("WORKER_CRASHED", f"the LibreOffice bridge died: {detail}")
    # Name the document as the client knows it, not by the worker's paths.
    message = str(reply.get("message") or "unreadable document").replace(str(source), source.name)
    return ConversionError("CORRUPT_FILE", f"LibreOffice could not read it: {message}")


def _last_line(stderr: bytearray) -> str:
    return last_line(stderr.decode("utf-8", "replace"))
