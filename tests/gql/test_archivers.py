"""createUpload with zips as archivers make them: metadata skipped and listed, names decoded,
folder paths kept, encrypted entries typed, and expansion bounded per archive and request."""

from __future__ import annotations

from pathlib import Path

import httpx

from models.upload import Upload
from tests.fixtures.zips import (
    explorer_zip,
    finder_zip,
    infozip_zip,
    python_zip,
    sevenzip_zip,
    zeros_bomb,
)
from tests.gql.conftest import make_app
from tests.gql.support import create, data, jpeg, pdf, png


def app_client(**settings: object) -> httpx.AsyncClient:
    app = make_app(**settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def by_name(upload: dict[str, object]) -> dict[str, dict[str, object]]:
    return {d["filename"]: d for d in upload["documents"]}  # type: ignore[attr-defined]


async def test_finder_metadata_is_skipped_listed_and_not_counted(db: str) -> None:
    files = {"Résumé.png": png(), "b.jpg": jpeg(), "c.pdf": pdf(1)}
    async with app_client(max_zip_entries=3) as client:
        created = await create(client, [("Photos.zip", finder_zip(files))])

    assert sorted(by_name(created)) == ["Photos/Résumé.png", "Photos/b.jpg", "Photos/c.pdf"]
    assert {d["errorCode"] for d in created["documents"]} == {None}
    row = await Upload.get(id=created["id"])
    skipped = {e["filename"]: e for e in row.skipped_entries}
    assert set(skipped) == {
        "Photos",
        "Photos/.DS_Store",
        "__MACOSX",
        "__MACOSX/Photos",
        "__MACOSX/Photos/._Résumé.png",
        "__MACOSX/Photos/._b.jpg",
        "__MACOSX/Photos/._c.pdf",
    }
    assert {e["archive"] for e in skipped.values()} == {"Photos.zip"}
    assert skipped["Photos/.DS_Store"]["reason"].startswith("macOS Finder folder settings")
    async with app_client() as client:
        listed = await data(
            client,
            "query($id: ID!) { upload(id: $id) { skippedEntries { archive filename reason } } }",
            {"id": created["id"]},
        )
    assert listed["upload"]["skippedEntries"] == row.skipped_entries


async def test_names_from_every_archiver_keep_their_folders(client: httpx.AsyncClient) -> None:
    zips = [
        ("explorer.zip", explorer_zip({"Père Noël.png": png()}, folder="Scans")),
        ("infozip.zip", infozip_zip({"Отчёт/страница.png": png(9, 9)}, windows=True)),
        (
            "7zip.zip",
            sevenzip_zip(
                {"日本/写真.jpg": jpeg(), "secret.pdf": pdf(1)}, encrypted=frozenset({"secret.pdf"})
            ),
        ),  # fmt: skip
        ("python.zip", python_zip({"a/b/c.png": png(7, 7)})),
        ("zip64.zip", infozip_zip({"big/one.png": png(5, 5)}, zip64=True)),
    ]
    created = await create(client, zips)
    docs = by_name(created)

    assert list(docs) == [
        "Scans/Père Noël.png",
        "Отчёт/страница.png",
        "日本/写真.jpg",
        "secret.pdf",
        "a/b/c.png",
        "big/one.png",
    ]
    assert docs["secret.pdf"]["errorCode"] == "ENCRYPTED_DOCUMENT"
    assert [d["filename"] for d in created["documents"] if d["errorCode"]] == ["secret.pdf"]


async def test_a_zip_of_zeros_stores_nothing(client: httpx.AsyncClient, storage_dir: Path) -> None:
    bomb = zeros_bomb(entries=200, size=1024 * 1024)
    created = await create(client, [("bomb.zip", bomb)])

    assert len(created["documents"]) == 200
    assert {d["errorCode"] for d in created["documents"]} == {"UNSUPPORTED_FORMAT"}
    stored = storage_dir / "uploads" / created["id"]
    assert not list(stored.rglob("original.*"))  # (the manifest's archive may be there)


async def test_the_ratio_is_judged_over_the_whole_archive(db: str, storage_dir: Path) -> None:
    # Each entry is a PDF header and 256 KiB of zeros: none is large, together they are.
    entries = {f"doc{n:03d}.pdf": b"%PDF-1.4\n" + bytes(256 * 1024) for n in range(100)}
    archive = python_zip(entries)
    async with app_client(max_zip_ratio=20.0) as client:
        created = await create(client, [("many.zip", archive)])

    kept = [d for d in created["documents"] if d["errorCode"] != "TOO_LARGE"]
    assert 0 < len(kept) < 100
    assert sum(d["sizeBytes"] for d in kept) <= 20 * len(archive)
    stored = storage_dir / "uploads" / created["id"]
    assert sum(p.stat().st_size for p in stored.rglob("original.*")) <= 20 * len(archive)


async def test_one_request_expands_no_more_than_its_limit(db: str) -> None:
    entries = {f"doc{n}.pdf": b"%PDF-1.4\n" + bytes(300 * 1024) for n in range(4)}
    archive = python_zip(entries)
    async with app_client(max_expanded_bytes=1024 * 1024, max_zip_ratio=1e6) as client:
        created = await create(client, [("one.zip", archive), ("two.zip", archive)])

    codes = [d["errorCode"] for d in created["documents"]]
    assert codes == [None] * 3 + ["TOO_LARGE"] * 5  # the second zip is not expanded at all
    assert "per-request limit" in str(created["documents"][-1]["errorMessage"])
    assert sum(d["sizeBytes"] for d in created["documents"]) <= 1024 * 1024
