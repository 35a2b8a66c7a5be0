"""How a LibreOffice bridge is started: the jail that takes its network, its binaries."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import shutil
import socket
from pathlib import Path

from tasks.engine.errors import ConversionError

logger = logging.getLogger(__name__)

UNO_PORT = 2002  # on the namespace's own loopback, so every instance can use it


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


_prefix: list[str] | None = None


async def jail_prefix() -> list[str]:
    """The command prefix that starts a bridge without network, probed once per process:
    `unshare --net` (or with --map-root-user when not root); [] if neither works."""
    global _prefix
    if _prefix is None:
        _prefix = await _probe_jail()
    return _prefix


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


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
