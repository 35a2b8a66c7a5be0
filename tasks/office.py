"""Office documents: recognise them by content, convert them to PDF with LibreOffice.

Pure like the engine (no DB, Redis or asyncio): the conversion child calls `to_pdf` before
rendering the PDF's pages. LibreOffice starts cold for each document (`soffice --headless
--convert-to pdf`), with a profile directory per worker process, so conversions never share
a running instance; the child's process group is killed on timeout like any conversion.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO

from tasks.engine import CONTENT_TYPES as IMAGE_TYPES
from tasks.engine import EXTENSIONS as IMAGE_EXTENSIONS
from tasks.engine import ConversionError, sniff

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# OOXML main parts and ODF mimetypes: the container alone does not say what it holds.
OOXML_PARTS = {
    "word/document.xml": "docx",
    "xl/workbook.xml": "xlsx",
    "ppt/presentation.xml": "pptx",
}
ODF_MIMETYPES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}
OFFICE_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "doc": "application/msword",
    "rtf": "application/rtf",
    # A password-protected OOXML file is an OLE2 container holding the encrypted package.
    "encrypted-office": "application/x-ole-storage",
}
OFFICE_KINDS = frozenset(OFFICE_TYPES)
CONTENT_TYPES = {**IMAGE_TYPES, **OFFICE_TYPES}
EXTENSIONS = {**IMAGE_EXTENSIONS, **{kind: kind for kind in OFFICE_TYPES}}
EXTENSIONS["encrypted-office"] = "bin"
CONVERTIBLE = frozenset({"pdf", "png", "jpeg"} | OFFICE_KINDS)
HEAD = 4096
_HELD: list[IO[str]] = []  # profile locks, released when the process exits
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
              NotImplementedError, RuntimeError, zlib.error)  # fmt: skip


def sniff_path(path: Path) -> str | None:
    """The kind of a file by content: the engine's kinds, or an office kind."""
    with path.open("rb") as handle:
        head = handle.read(HEAD)
    kind = sniff(head)
    if kind == "zip":
        return _zip_kind(path) or "zip"
    if kind is None and head.startswith(OLE2_MAGIC):
        return _ole2_kind(path)
    if kind is None and head.startswith(b"{\\rtf"):
        return "rtf"
    return kind


def _zip_kind(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                with zf.open("mimetype") as entry:  # bounded: the entry may be a bomb
                    return ODF_MIMETYPES.get(entry.read(128).strip())
            if "[Content_Types].xml" in names:
                return next((kind for part, kind in OOXML_PARTS.items() if part in names), None)
    except ZIP_ERRORS:
        return None
    return None


def _ole2_kind(path: Path) -> str | None:
    # Directory entries name their streams in UTF-16LE; looking for the names in the bytes
    # avoids a compound-file parser and is enough to tell the few containers we take.
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data.find("EncryptedPackage".encode("utf-16-le")) >= 0:
            return "encrypted-office"
        if data.find("WordDocument".encode("utf-16-le")) >= 0:
            return "doc"
    return None


def is_encrypted(source: Path, kind: str) -> bool:
    """True for password-protected documents LibreOffice would ask a password for."""
    if kind == "encrypted-office":
        return True
    if kind in ("odt", "ods", "odp"):
        try:
            with zipfile.ZipFile(source) as zf:
                return b"encryption-data" in zf.read("META-INF/manifest.xml")
        except ZIP_ERRORS:
            return False
    if kind == "doc":
        return _doc_encrypted(source)
    return False


def _doc_encrypted(source: Path) -> bool:
    # The WordDocument stream starts with the FIB; bit fEncrypted (0x0100) of its flags word
    # at offset 0x0A. Without a stream parser, find the FIB by its magic 0xA5EC.
    with source.open("rb") as handle:
        data = handle.read(64 * 1024)
    at = data.find(b"\xec\xa5", 512)
    if at < 0 or at + 12 > len(data):
        return False
    n_fib = int.from_bytes(data[at + 2 : at + 4], "little")
    flags = int.from_bytes(data[at + 10 : at + 12], "little")
    return 0x65 <= n_fib <= 0x200 and bool(flags & 0x0100)


# Profile settings: macros never run, and documents fetch nothing (links go to a dead proxy).
REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetProxyType" oor:op="fuse"><value>1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPSProxyName" oor:op="fuse"><value>127.0.0.1</value></prop></item>
<item oor:path="/org.openoffice.Inet/Settings">
 <prop oor:name="ooInetHTTPSProxyPort" oor:op="fuse"><value>9</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc">
 <prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""


def rendition_path(pages_dir: Path) -> Path:
    """Where the PDF rendition of a document whose pages go to pages_dir is kept."""
    return pages_dir.parent / "document.pdf"


def profile_dir(worker_pid: int) -> Path:
    """A LibreOffice user profile of this worker process that no running soffice uses.

    Two soffice processes on one profile hand documents to each other over its pipe, so a
    worker running conversions side by side needs one profile each. The lock (held until
    this process exits) marks a profile as taken; the profiles are kept for the next child.
    """
    root = Path(tempfile.gettempdir())
    for slot in range(64):
        path = root / f"pagemill-office-{worker_pid}-{slot}"
        path.mkdir(parents=True, exist_ok=True)
        handle = (path / ".lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _HELD.append(handle)
        user = path / "user"
        user.mkdir(exist_ok=True)
        (user / "registrymodifications.xcu").write_text(REGISTRY)
        return path
    raise ConversionError("RESOURCE_LIMIT", "no free LibreOffice profile")


def network_jail() -> list[str]:
    """A command prefix that runs LibreOffice without any network, when the system allows."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--net", "--map-root-user"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)  # noqa: S603
        if probe.returncode == 0:
            return prefix
    return []


def to_pdf(source: Path, kind: str, target: Path, profile: Path, timeout: float) -> None:
    """Converts an office document into target (a PDF); raises ConversionError."""
    if is_encrypted(source, kind):
        raise ConversionError("ENCRYPTED_DOCUMENT", "The document is password-protected")
    work = Path(tempfile.mkdtemp(prefix="office-", dir=target.parent))
    try:
        # LibreOffice picks its import filter partly by extension: name the input by its kind.
        named = work / f"document.{EXTENSIONS[kind]}"
        os.symlink(source.resolve(), named)
        # coreutils timeout runs LibreOffice in a process group of its own and kills the
        # whole group (oosplash and soffice.bin) when time is up, even if our caller was
        # killed first; the conversion child's own group kill does not reach it.
        command = [
            "timeout", "--signal=KILL", f"{timeout:g}",
            *network_jail(),
            shutil.which("soffice") or "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless", "--invisible", "--norestore", "--nolockcheck", "--nodefault",
            "--nologo", "--convert-to", "pdf", "--outdir", str(work / "out"), str(named),
        ]  # fmt: skip
        done = subprocess.run(  # noqa: S603 (fixed programs, paths we made)
            command, capture_output=True, check=False, stdin=subprocess.DEVNULL
        )
        if done.returncode in (124, 137, -9):
            raise ConversionError("TIMEOUT", f"LibreOffice took longer than {timeout:g} s")
        produced = work / "out" / "document.pdf"
        if done.returncode != 0 or not produced.is_file() or produced.stat().st_size == 0:
            detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            message = detail[-1][:200] if detail else f"exit status {done.returncode}"
            raise ConversionError("CORRUPT_FILE", f"LibreOffice could not read it: {message}")
        os.replace(produced, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
