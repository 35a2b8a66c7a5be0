"""Warm LibreOffice for a worker process: a pool of long-lived instances, one per slot.

Each instance is tasks/office_bridge.py run by the system Python (which has `uno`) in a
private network namespace and a process group of its own; it starts soffice once and then
converts one document at a time. An instance is replaced after `office_recycle_after`
documents and after any failure; past `office_timeout` its whole process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any

import psutil

from settings import Settings
from tasks import office
from tasks.engine import ConversionError
from tasks.runner import MEMORY_SIGNALS

logger = logging.getLogger(__name__)

BRIDGE = Path(__file__).resolve().with_name("office_bridge.py")
START_SECONDS = 60.0  # a cold LibreOffice with a fresh profile starts in 2-5 s
UNO_PORT = 2002  # on the namespace's own loopback, so every instance can use it
REAP_SECONDS = 10.0
STDERR_KEEP = 16 * 1024
PROFILE_PREFIX = "pagemill-office-"
_EOF: dict[str, Any] = {}


def unoserver_dir() -> Path:
    """The installed unoserver package, found without importing it (it needs uno)."""
    spec = importlib.util.find_spec("unoserver")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("INTERNAL", "the unoserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def soffice_binary() -> str:
    """soffice.bin itself: the `soffice` script's launcher would hide its pid and status."""
    found = shutil.which("soffice") or shutil.which("libreoffice") or "soffice"
    real = Path(found).resolve().with_name("soffice.bin")
    return str(real) if real.is_file() else found


class Jail:
    """How bridges are started without network: a command prefix, probed once per process."""

    prefix: list[str] | None = None

    @classmethod
    async def get(cls) -> list[str]:
        """`unshare --net` (or with --map-root-user when not root); [] if neither works."""
        if cls.prefix is None:
            cls.prefix = await _probe_jail()
        return cls.prefix


async def _probe_jail() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--net", "--map-root-user"]):
        probe = await asyncio.create_subprocess_exec(
            *prefix, "true", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        if await probe.wait() == 0:
            return prefix
    logger.warning("no network namespace available: LibreOffice shares the host network")
    return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
                named = work / f"document.{office.EXTENSIONS[kind]}"
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
        jail = await Jail.get()
        command = [
            *jail, settings.office_python, "-I", str(BRIDGE),
            "--unoserver", str(unoserver_dir()), "--profile", str(self.profile),
            "--port", str(UNO_PORT if jail else _free_port()), "--soffice", soffice_binary(),
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
            asyncio.create_task(_drain(self._proc, self._stderr)),
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
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group stays reserved while it has members
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


async def _drain(proc: asyncio.subprocess.Process, keep: bytearray) -> None:
    assert proc.stderr is not None  # noqa: S101 (piped)
    while chunk := await proc.stderr.read(65536):
        keep += chunk
        del keep[:-STDERR_KEEP]


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
            sig = signal.Signals(-status)
            code = "RESOURCE_LIMIT" if sig in MEMORY_SIGNALS else "WORKER_CRASHED"
            return ConversionError(code, f"LibreOffice was killed by {sig.name}")
        return ConversionError("WORKER_CRASHED", f"LibreOffice exited with status {status}")
    if reply is _EOF:
        detail = _last_line(stderr) or "no detail"
        logger.warning("LibreOffice bridge died: %s", stderr.decode("utf-8", "replace")[-2000:])
        return ConversionError("WORKER_CRASHED", f"the LibreOffice bridge died: {detail}")
    # Name the document as the client knows it, not by the worker's paths.
    message = str(reply.get("message") or "unreadable document").replace(str(source), source.name)
    return ConversionError("CORRUPT_FILE", f"LibreOffice could not read it: {message}")


def _last_line(stderr: bytearray) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:300] if lines else ""
