"""The one sniffer: what a file is, decided by its bytes (never by its name)."""

from __future__ import annotations

import mmap
import zipfile
from pathlib import Path

from tasks.engine.errors import ZIP_ERRORS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PDF_SNIFF_BYTES = 1024  # Acrobat accepts %PDF- anywhere in the first 1024 bytes
PDF_HEADER = b"%PDF-"
# PostScript and DOS EPS: Ghostscript would run such a file as a program, whatever follows.
POSTSCRIPT_MAGIC = (b"%!", b"\xc5\xd0\xd3\xc6")
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
HEAD = 4096
IMAGE_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "zip": "application/zip",
}
IMAGE_EXTENSIONS = {"pdf": "pdf", "png": "png", "jpeg": "jpg", "zip": "zip"}
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


def sniff(head: bytes) -> str | None:
    """The kind of a file from its first bytes: "pdf", "png", "jpeg", "zip" or None."""
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(POSTSCRIPT_MAGIC):
        return None  # a PostScript/PDF polyglot is PostScript to Ghostscript
    if PDF_HEADER in head[:PDF_SNIFF_BYTES]:
        return "pdf"
    return None


def sniff_path(path: Path) -> str | None:
    """The kind of a file by content: sniff's kinds, or an office kind."""
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


def is_office_container(path: Path) -> bool:
    """True for a zip that is an OOXML or ODF document, not an archive to expand."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist()[:50])
    except ZIP_ERRORS:
        return False
    return "[Content_Types].xml" in names or "mimetype" in names


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
