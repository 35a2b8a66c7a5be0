"""Zip rules on zips built the way each archiver builds them: which entries are metadata,
what each entry is called, and how far an archive may expand."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

from tasks.service.zip_rules import (
    APPLEDOUBLE,
    FOLDER,
    ArchiveBudget,
    RequestBudget,
    display_name,
    entry_name,
    is_encrypted,
    is_unsafe,
    skip_reason,
)
from tests.fixtures.zips import (
    Entry,
    build,
    explorer_zip,
    finder_zip,
    infozip_zip,
    python_zip,
    sevenzip_zip,
    unicode_path_extra,
    zeros_bomb,
)

FILES = {"Résumé.png": b"\x89PNG one", "Ünïcödé/Straße.jpg": b"\xff\xd8\xff two", "a.pdf": b"%PDF"}


def named(data: bytes) -> list[tuple[str, str | None, zipfile.ZipInfo]]:
    """(decoded name, skip reason, info) of every entry, in archive order."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        out = []
        for info in zf.infolist():
            name = entry_name(info)
            out.append((name, skip_reason(info, name), info))
        return out


def kept(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(info) for name, reason, info in named(data) if reason is None}


def test_finder_zip_keeps_the_files_and_skips_forks_folders_and_ds_store() -> None:
    entries = named(finder_zip(FILES))

    assert kept(finder_zip(FILES)) == {f"Photos/{k}": v for k, v in FILES.items()}
    skipped = {name: reason for name, reason, _ in entries if reason is not None}
    assert skipped["Photos/"] == FOLDER
    assert skipped["Photos/.DS_Store"].startswith("macOS Finder folder settings")
    assert skipped["__MACOSX/Photos/._Résumé.png"].startswith("macOS resource forks")
    assert skipped["__MACOSX/"] == FOLDER
    assert len(skipped) == len(entries) - len(FILES)


def test_finder_names_are_utf8_without_the_flag_and_come_out_composed() -> None:
    [info] = [i for _, _, i in named(finder_zip(FILES)) if i.file_size == len(FILES["a.pdf"])]
    resume = [i for _, _, i in named(finder_zip(FILES)) if "sum" in entry_name(i)][0]

    assert not resume.flag_bits & 0x800 and resume.flag_bits & 0x8  # streamed, no flag
    assert entry_name(resume) == "Photos/Résumé.png"  # NFC, though stored decomposed
    assert entry_name(info) == "Photos/a.pdf"


def test_explorer_zip_decodes_oem_names_and_skips_thumbs_and_desktop_ini() -> None:
    data = explorer_zip(FILES)
    skipped = {name: reason for name, reason, _ in named(data) if reason is not None}

    assert kept(data) == {f"Scans/{k}": v for k, v in FILES.items()}
    assert skipped["Scans/Thumbs.db"].startswith("Windows thumbnail cache")
    assert skipped["Scans/desktop.ini"].startswith("Windows folder settings")
    assert skipped["Scans/Ünïcödé/"] == FOLDER


def test_sevenzip_zip_reads_flagged_utf8_and_marks_encrypted_entries() -> None:
    data = sevenzip_zip(FILES, encrypted=frozenset({"a.pdf"}))
    infos = {name: info for name, reason, info in named(data) if reason is None}

    assert set(infos) == set(FILES)
    assert infos["Résumé.png"].flag_bits & 0x800
    assert [name for name, info in infos.items() if is_encrypted(info)] == ["a.pdf"]


def test_infozip_on_windows_takes_the_unicode_path_field() -> None:
    names = {"Привет.pdf": b"%PDF", "日本語/ファイル.png": b"\x89PNG"}
    data = infozip_zip(names, windows=True)

    # The OEM code page has no Cyrillic or Japanese: only the 0x7075 field has the names.
    assert set(kept(data)) == set(names)


def test_a_stale_unicode_path_field_is_ignored() -> None:
    raw = "Résumé.pdf".encode("cp437")
    stale = unicode_path_extra(b"Resume-old.pdf", "Something else.pdf")
    data = build([Entry(raw, b"%PDF", create_system=0, external_attr=0x20, extra=stale)])

    [(name, reason, _)] = named(data)
    assert (name, reason) == ("Résumé.pdf", None)


def test_infozip_on_unix_and_zip64_read_as_utf8() -> None:
    data = infozip_zip(FILES, zip64=True)

    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # zip64 end records
    assert kept(data) == FILES


def test_real_infozip_zip_names_and_folders(tmp_path: Path) -> None:
    folder = tmp_path / "Fotos"
    (folder / "Übersicht").mkdir(parents=True)
    (folder / "Übersicht" / "Café.pdf").write_bytes(b"%PDF-1.4")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    target = tmp_path / "out.zip"
    env = {"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
    argv = ["zip", "-r", "-q", "-fz", str(target), "Fotos"]
    subprocess.run(argv, cwd=tmp_path, env=env, check=True)  # noqa: S603

    assert kept(target.read_bytes()) == {"Fotos/Übersicht/Café.pdf": b"%PDF-1.4"}


def test_python_zipfile_folder_entries_are_skipped() -> None:
    data = python_zip(FILES)

    assert kept(data) == FILES
    assert [reason for _, reason, _ in named(data) if reason] == [FOLDER]


def test_appledouble_and_metadata_names_anywhere() -> None:
    info = zipfile.ZipInfo("x")
    assert skip_reason(info, "deep/dir/._photo.jpg") == APPLEDOUBLE
    assert skip_reason(info, "A/THUMBS.DB") is not None
    assert skip_reason(info, "A/.Spotlight-V100/Store-V2/x") is not None
    assert skip_reason(info, "holiday/._") == APPLEDOUBLE
    assert skip_reason(info, "notes/thumbs.db.pdf") is None
    assert skip_reason(info, "_MACOSX/x.pdf") is None


def test_display_names_keep_folders_with_forward_slashes() -> None:
    assert display_name("./a\\b//c.pdf") == "a/b/c.pdf"
    assert is_unsafe("../x.pdf") and is_unsafe("/etc/x") and is_unsafe("C:\\x")
    assert not is_unsafe("a/b..c.pdf")


def test_the_ratio_is_judged_over_the_whole_archive_small_entries_included() -> None:
    bomb = zeros_bomb(entries=50, size=64 * 1024)
    budget = ArchiveBudget(len(bomb), 200.0, 1 << 40, RequestBudget(1 << 40))
    outcomes = [budget.take(64 * 1024) for _ in range(50)]

    first = next(n for n, why in enumerate(outcomes) if why)
    assert first * 64 * 1024 <= 200 * len(bomb) < (first + 1) * 64 * 1024
    assert "compression ratio" in str(outcomes[first]) and budget.exhausted


def test_one_request_budget_is_shared_by_its_archives() -> None:
    request = RequestBudget(1000)
    first = ArchiveBudget(100, 1000.0, 10**9, request)
    second = ArchiveBudget(100, 1000.0, 10**9, request)

    assert first.take(600) is None
    assert "per-request" in str(second.take(600))
    assert first.exhausted is not None
