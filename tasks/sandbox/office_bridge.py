"""A long-lived LibreOffice behind JSON lines: run by the system Python, which has `uno`.

`/usr/bin/python3 -I tasks/sandbox/office_bridge.py --unoserver DIR --profile DIR --port N ...`
starts soffice listening for UNO on 127.0.0.1:N, connects unoserver's UnoConverter to it,
writes {"ready": true, "pid": <soffice pid>} and then answers one request per stdin line:
{"source": path, "target": path} -> {"ok": true} or {"error": "CORRUPT_FILE", "message": ...}.
If soffice exits it writes {"exited": <status>} (negative: killed by that signal) and leaves.
On stdin EOF, or when its parent dies, it kills soffice, removes the profile and exits.

Only the standard library, uno and unoserver here: the project's virtualenv cannot load uno,
and this runs isolated (-I) from it.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
CONNECT_PAUSE = 0.1
PARENT_POLL = 1.0
# soffice.bin exits with this after creating a new profile, asking to be started again
# (the soffice script's oosplash would do it; running soffice.bin gives us its real pid).
RESTART = 81
CRASH_GRACE = 1.0  # how long a UNO error waits to see whether soffice is dying
MiB = 1024 * 1024


class Channel:
    """Protocol lines on the real stdout; the soffice watcher writes from another thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, **fields: Any) -> None:
        with self.lock:
            self.stream.write(json.dumps(fields) + "\n")
            self.stream.flush()


def loopback_up() -> None:
    """Brings `lo` up: a fresh network namespace has it down, and UNO needs it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def load_unoserver(package: Path) -> Any:
    """unoserver.converter from its installed directory, without the rest of that venv."""
    spec = importlib.util.spec_from_file_location(
        "unoserver", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"no unoserver package in {package}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["unoserver"] = module
    spec.loader.exec_module(module)
    from unoserver import converter

    return converter


class LockedDesktop:
    """The UNO desktop, loading every document with macros and link updates off.

    UnoConverter takes no extra load properties, so they are added where it loads.
    """

    def __init__(self, desktop: Any, property_value: Any) -> None:
        self.desktop = desktop
        self.extra = (
            property_value(Name="MacroExecutionMode", Value=0),  # NEVER_EXECUTE
            property_value(Name="UpdateDocMode", Value=0),  # NO_UPDATE: linked content stays
            property_value(Name="Hidden", Value=True),
        )

    def loadComponentFromURL(self, url: str, frame: str, flags: int, props: tuple[Any, ...]) -> Any:  # noqa: N802
        return self.desktop.loadComponentFromURL(url, frame, flags, tuple(props) + self.extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.desktop, name)


class Office:
    """The soffice process of this bridge, listening for UNO on a loopback port."""

    def __init__(self, soffice: str, profile: Path, port: int) -> None:
        self.soffice = soffice
        self.profile = profile
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.reporting = threading.Lock()

    def start(self) -> subprocess.Popen[bytes]:
        """Starts soffice with this bridge's profile."""
        accept = (
            f"socket,host=127.0.0.1,port={self.port},tcpNoDelay=1;urp;StarOffice.ComponentContext"
        )
        command = [
            self.soffice, f"-env:UserInstallation={self.profile.as_uri()}", f"--accept={accept}",
            "--headless", "--invisible", "--nocrashreport", "--nodefault", "--nologo",
            "--nofirststartwizard", "--norestore", "--nolockcheck",
        ]  # fmt: skip
        # stdout to stderr: the real stdout carries the protocol.
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=2)  # noqa: S603
        return self.process

    def connect(self, converter: Any) -> Any:
        """A UnoConverter on soffice, once soffice accepts (it takes a second or two)."""
        process = self.start()
        while True:
            try:
                return converter.UnoConverter(interface="127.0.0.1", port=str(self.port))
            except Exception:  # uno raises its own NoConnectException until soffice listens
                status = process.poll()
                if status == RESTART:
                    process = self.start()
                elif status is not None:
                    raise
                time.sleep(CONNECT_PAUSE)

    def exited(self, grace: float) -> int | None:
        """soffice's exit status if it exits within grace seconds, else None."""
        assert self.process is not None  # noqa: S101 (started)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            return None

    def report_exit(self, channel: Channel, status: int) -> None:
        """Tells the worker that soffice exited, then leaves (once, whichever thread saw it)."""
        self.reporting.acquire()  # never released: the first reporter ends the process
        channel.send(exited=status)
        self.stop()
        os._exit(3)

    def stop(self) -> None:
        """Kills soffice and removes the profile."""
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def watch_soffice(office: Office, channel: Channel) -> None:
    """Reports soffice's exit, unless the bridge is stopping it on purpose."""
    assert office.process is not None  # noqa: S101 (started before the watch)
    status = office.process.wait()
    if not office.stopping.is_set():
        office.report_exit(channel, status)


def watch_parent(parent: int, stop: Any) -> None:
    """Stops everything when the worker that started this bridge is gone."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    stop()
    os._exit(4)


def serve(office: Office, uno_converter: Any, channel: Channel, requests: IO[str]) -> None:
    """Answers conversion requests until stdin closes."""
    for line in requests:
        request = json.loads(line)
        try:
            uno_converter.convert(
                inpath=request["source"], outpath=request["target"], convert_to="pdf"
            )
        except Exception as exc:  # LibreOffice reports unreadable input as assorted exceptions
            # A UNO exception may also mean soffice died under the call: then say that.
            if hasattr(exc, "typeName") and (status := office.exited(CRASH_GRACE)) is not None:
                office.report_exit(channel, status)
            lines = str(exc).strip().splitlines()
            channel.send(error="CORRUPT_FILE", message=(lines[0] if lines else repr(exc))[:300])
            continue
        channel.send(ok=True)


def main() -> int:
    """Entry point: start soffice, connect, serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--unoserver", type=Path, required=True)
    parser.add_argument("--profile", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--soffice", required=True)
    parser.add_argument("--memory-limit-mb", type=int, required=True)
    parser.add_argument("--loopback-up", action="store_true")
    args = parser.parse_args()

    channel = Channel(os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8"))
    os.dup2(2, 1)  # anything uno or LibreOffice prints goes to stderr
    parent = os.getppid()
    if args.loopback_up:
        loopback_up()
    cap = args.memory_limit_mb * MiB
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))  # inherited by soffice
    converter = load_unoserver(args.unoserver)
    from com.sun.star.beans import PropertyValue  # importable once uno is loaded

    office = Office(args.soffice, args.profile, args.port)

    def stop_now(signum: int, frame: object) -> None:
        office.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop_now)
    threading.Thread(target=watch_parent, args=(parent, office.stop), daemon=True).start()
    try:
        uno_converter = office.connect(converter)
        uno_converter.desktop = LockedDesktop(uno_converter.desktop, PropertyValue)
        threading.Thread(target=watch_soffice, args=(office, channel), daemon=True).start()
        assert office.process is not None  # noqa: S101 (connected)
        channel.send(ready=True, pid=office.process.pid)
        serve(office, uno_converter, channel, sys.stdin)
    finally:
        office.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
