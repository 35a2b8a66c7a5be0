"""A zip expanded safely: each entry becomes a document; unsafe, encrypted, nested or oversized
entries fail on their own and the good ones are converted. Declared sizes are never trusted."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from models.upload import ErrorCode
from settings import Settings
from tasks.engine.errors import ZIP_ERRORS
from tasks.engine.kinds import CONVERTIBLE, is_office_container, sniff_path
from tasks.service.planned import CHUNK, UNSUPPORTED, IncomingFile, Planned, sha256_of

# Small entries may compress extremely well for honest reasons; judge the ratio past this size.
RATIO_FLOOR = 1024 * 1024


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return ".." in parts or "\x00" in name


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def expand_zip(file: IncomingFile, settings: Settings, work: Path) -> list[Planned]:
    """Each entry of a zip as a document; unsafe or oversized entries fail, others convert."""
    try:
        with zipfile.ZipFile(file.path) as zf:
            return _entries(zf, file, settings, work)
    except ZIP_ERRORS as exc:
        sha = file.sha256 or sha256_of(file.path)
        message = f"Not a readable zip archive: {exc}"
        return [
            Planned(
                file.filename, file.path, file.size, sha, "zip", (ErrorCode.CORRUPT_FILE, message)
            )
        ]


def _entries(
    zf: zipfile.ZipFile, file: IncomingFile, settings: Settings, work: Path
) -> list[Planned]:
    infos = [info for info in zf.infolist() if not info.is_dir()]
    if not infos:
        error = (ErrorCode.UNSUPPORTED_FORMAT, "The zip archive holds no files")
        return [Planned(file.filename, None, 0, "", None, error)]
    budget = settings.max_zip_bytes
    planned: list[Planned] = []
    for info in infos[: settings.max_zip_entries]:
        entry = _entry(zf, info, settings, work, budget)
        budget -= entry.size
        planned.append(entry)
    extra = len(infos) - settings.max_zip_entries
    if extra > 0:
        message = f"{extra} entries past the limit of {settings.max_zip_entries} were not taken"
        name = f"{file.filename} (+{extra} entries)"
        planned.append(Planned(name, None, 0, "", None, (ErrorCode.TOO_LARGE, message)))
    file.path.unlink(missing_ok=True)
    return planned


def _entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, settings: Settings, work: Path, budget: int
) -> Planned:
    name = info.filename
    if _unsafe_name(name):
        return Planned(
            name,
            None,
            0,
            "",
            None,
            (ErrorCode.UNSAFE_ARCHIVE, "Absolute path or '..' in the entry name"),
        )
    if _is_symlink(info):
        return Planned(name, None, 0, "", None, (ErrorCode.UNSAFE_ARCHIVE, "Symbolic link entry"))
    if info.flag_bits & 0x1:
        return Planned(
            name, None, 0, "", None, (ErrorCode.ENCRYPTED_DOCUMENT, "Encrypted zip entry")
        )
    if budget <= 0:
        return Planned(
            name,
            None,
            0,
            "",
            None,
            (
                ErrorCode.TOO_LARGE,
                f"The archive is over its total size limit of {settings.max_zip_bytes} bytes "
                f"({settings.max_zip_bytes - budget} bytes in earlier entries)",
            ),
        )
    planned = _extract(zf, info, work, min(budget, settings.max_file_bytes), settings.max_zip_ratio)
    if planned.error is None and planned.source is not None:
        planned.kind = sniff_path(planned.source)
        if planned.kind == "zip" and not is_office_container(planned.source):
            planned.error = (ErrorCode.UNSAFE_ARCHIVE, "Nested archives are not expanded")
        elif planned.kind not in CONVERTIBLE:
            planned.error = (ErrorCode.UNSUPPORTED_FORMAT, UNSUPPORTED)
    return planned


def _extract(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, work: Path, limit: int, ratio: float
) -> Planned:
    # Declared sizes are never trusted: count the bytes as they come out.
    fd, tmp = tempfile.mkstemp(dir=work, prefix="zip-")
    digest, size = hashlib.sha256(), 0
    error: tuple[ErrorCode, str] | None = None
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    error = (
                        ErrorCode.TOO_LARGE,
                        f"Entry has more than {limit} bytes, the size limit "
                        f"({size} extracted when it was stopped)",
                    )
                    break
                if size > RATIO_FLOOR and size > ratio * max(info.compress_size, 1):
                    actual = size / max(info.compress_size, 1)
                    error = (
                        ErrorCode.TOO_LARGE,
                        f"Entry compression ratio over the limit of {ratio:g} "
                        f"(at least {actual:.0f})",
                    )
                    break
                digest.update(chunk)
                out.write(chunk)
    except ZIP_ERRORS as exc:
        error = (ErrorCode.CORRUPT_FILE, f"Unreadable zip entry: {exc}")
    if error is not None:
        os.unlink(tmp)
        return Planned(info.filename, None, 0, "", None, error)
    return Planned(info.filename, Path(tmp), size, digest.hexdigest(), None)
