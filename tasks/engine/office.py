"""Office documents: recognise them by content, tell encrypted ones, configure LibreOffice.

Pure like the engine (no DB, Redis or asyncio). The worker's warm LibreOffice instances
(tasks/office_server.py) turn a document into its PDF rendition, which is then paged like
any uploaded PDF.
"""

from __future__ import annotations

import mmap
import zipfile
import zlib
from pathlib import Path

from tasks.engine import CONTENT_TYPES as IMAGE_TYPES
from tasks.engine import EXTENSIONS as IMAGE_EXTENSIONS
from tasks.engine import sniff

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
