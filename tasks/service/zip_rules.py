"""Zips as archivers make them: metadata entries to skip, entry names, the expansion budget.

Pure: no I/O beyond the ZipInfo zipfile already read. The Finder, Explorer, 7-Zip and
Info-ZIP add entries nobody chose to upload (resource forks, folder settings, thumbnail
caches, folder entries); they are skipped, not turned into failed documents. Names without
the UTF-8 flag are decoded as the common archivers do: Info-ZIP's Unicode Path field when
it matches the stored name, else UTF-8 when the bytes are valid UTF-8 (the Finder and
Info-ZIP on Unix write UTF-8 without setting the flag), else the legacy DOS code page
(Explorer and 7-Zip on Windows write the OEM code page).
"""

from __future__ import annotations

import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x1
UNICODE_PATH_FIELD = 0x7075  # Info-ZIP Unicode Path: version, CRC-32 of the stored name, UTF-8
MSDOS_DIRECTORY = 0x10
ZIPFILE_ENCODING = "cp437"  # how zipfile decodes names without the flag (one byte per char)

METADATA_FOLDERS = {
    "__macosx": "macOS resource forks (__MACOSX)",
    ".spotlight-v100": "macOS Spotlight index",
    ".fseventsd": "macOS file system events",
    ".trashes": "macOS trash",
    ".temporaryitems": "macOS temporary items",
    ".documentrevisions-v100": "macOS document versions",
    ".appledouble": "AppleDouble folder",
    "$recycle.bin": "Windows recycle bin",
    "system volume information": "Windows volume information",
}
METADATA_FILES = {
    ".ds_store": "macOS Finder folder settings (.DS_Store)",
    ".localized": "macOS localized folder marker",
    ".apdisk": "macOS shared disk settings",
    ".volumeicon.icns": "macOS volume icon",
    "icon\r": "macOS custom folder icon",
    "thumbs.db": "Windows thumbnail cache (Thumbs.db)",
    "ehthumbs.db": "Windows thumbnail cache",
    "ehthumbs_vista.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings (desktop.ini)",
    ".directory": "KDE folder settings",
}
APPLEDOUBLE = "macOS resource fork (AppleDouble ._ file)"
FOLDER = "folder entry"


def entry_name(info: zipfile.ZipInfo, legacy_encoding: str = ZIPFILE_ENCODING) -> str:
    """The entry's name as its author wrote it, in NFC (the Finder stores decomposed names)."""
    if info.flag_bits & UTF8_FLAG:
        name = info.orig_filename
    else:
        raw = info.orig_filename.encode(ZIPFILE_ENCODING)
        name = unicode_path(info.extra, raw) or _decode_legacy(raw, legacy_encoding)
    return unicodedata.normalize("NFC", name)


def _decode_legacy(raw: bytes, legacy_encoding: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(legacy_encoding, errors="replace")


def unicode_path(extra: bytes, raw_name: bytes) -> str | None:
    """The UTF-8 name of an Info-ZIP Unicode Path field, if present and still matching."""
    offset = 0
    while offset + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + size]
        offset += 4 + size
        if kind != UNICODE_PATH_FIELD or len(body) < 5 or body[0] != 1:
            continue
        # A tool that renamed the entry without updating the field leaves a stale CRC.
        if struct.unpack_from("<I", body, 1)[0] != zlib.crc32(raw_name):
            return None
        try:
            return body[5:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def is_folder(info: zipfile.ZipInfo, name: str) -> bool:
    """True for a folder entry: a trailing separator, or a directory in its attributes."""
    if name.endswith(("/", "\\")):
        return True
    unix_mode = info.external_attr >> 16
    if unix_mode and stat.S_ISDIR(unix_mode):
        return True
    return bool(info.external_attr & MSDOS_DIRECTORY) and info.file_size == 0


def skip_reason(info: zipfile.ZipInfo, name: str) -> str | None:
    """Why an entry is archiver or operating-system metadata; None for a person's file."""
    if is_folder(info, name):
        return FOLDER
    *folders, base = PurePosixPath(name.replace("\\", "/")).parts or ("",)
    for folder in folders:
        reason = METADATA_FOLDERS.get(folder.lower())
        if reason is not None:
            return reason
    if base.startswith("._"):
        return APPLEDOUBLE
    return METADATA_FILES.get(base.lower())


def is_encrypted(info: zipfile.ZipInfo) -> bool:
    """True when the entry needs a password (ZipCrypto and AES both set bit 0)."""
    return bool(info.flag_bits & ENCRYPTED_FLAG)


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """True for an entry stored as a Unix symbolic link."""
    return stat.S_ISLNK(info.external_attr >> 16)


def is_unsafe(name: str) -> bool:
    """True for a name that would leave the folder it is expanded into."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return ".." in parts or "\x00" in name


def display_name(name: str) -> str:
    """The document's filename: the path inside the zip with '/' separators, no './'."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


@dataclass
class RequestBudget:
    """Bytes the zips of one request may still expand to, all zips together."""

    limit: int
    left: int = -1

    def __post_init__(self) -> None:
        if self.left < 0:
            self.left = self.limit


@dataclass
class ArchiveBudget:
    """Expansion allowed for one zip: the bytes it keeps against its compressed size (the
    ratio over the whole archive, every entry counted, small ones included) and its own
    total; every byte inflated, kept or not, against what is left of the request's."""

    archive_bytes: int
    max_ratio: float
    max_total: int
    request: RequestBudget
    kept: int = 0

    def take(self, size: int) -> str | None:
        """Count `size` more expanded bytes; why that is too much, if it is."""
        self.kept += size
        self.request.left -= size
        return self._over(self.kept, self.request.left)

    def give_back(self, size: int) -> None:
        """An entry's bytes were thrown away: they no longer count against the archive (the
        request's count keeps them: inflating them took the time all the same)."""
        self.kept -= size

    @property
    def exhausted(self) -> str | None:
        """Why no further entry can be taken, if none can."""
        return self._over(self.kept + 1, self.request.left - 1)

    def _over(self, kept: int, request_left: int) -> str | None:
        if kept > self.max_ratio * max(self.archive_bytes, 1):
            return (
                f"the archive expands more than {self.max_ratio:g} times its "
                f"{self.archive_bytes} bytes (the compression ratio limit)"
            )
        if kept > self.max_total:
            return f"the archive expands to more than {self.max_total} bytes (its size limit)"
        if request_left < 0:
            return (
                f"the request's archives expand to more than {self.request.limit} bytes "
                "(the per-request limit)"
            )
        return None
