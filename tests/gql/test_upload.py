"""createUpload over multipart: ids at once, CSRF rule, limits, idempotency, zips."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from models.upload import Upload
from tests.gql.conftest import make_app
from tests.gql.support import PREFLIGHT, create, jpeg, multipart, pdf, png, upload


def stored_files(root: Path) -> set[Path]:
    """Originals on disk (conversions running meanwhile add pages, never originals)."""
    return set((root / "uploads").glob("*/*/original.*"))


async def test_upload_returns_ids_at_once_with_filenames_as_given(
    client: httpx.AsyncClient,
) -> None:
    files = [("scan.png", png()), ("photo.jpg", jpeg()), ("scan.png", png(9, 9)), ("a.pdf", pdf(1))]
    created = await create(client, files)
    docs = created["documents"]
    assert [d["filename"] for d in docs] == ["scan.png", "photo.jpg", "scan.png", "a.pdf"]
    assert [d["index"] for d in docs] == [1, 2, 3, 4]
    assert len({d["id"] for d in docs}) == 4
    assert created["documentCount"] == 4
    types = ["image/png", "image/jpeg", "image/png", "application/pdf"]
    assert [d["contentType"] for d in docs] == types
    for doc, (_, content) in zip(docs, files, strict=True):
        assert doc["sha256"] == hashlib.sha256(content).hexdigest()
        assert doc["sizeBytes"] == len(content)
        assert doc["original"]["url"] == f"http://test/files/{doc['original']['path']}"
    # Same name twice: stored separately.
    assert docs[0]["original"]["path"] != docs[2]["original"]["path"]


async def test_format_is_decided_by_content_not_name(client: httpx.AsyncClient) -> None:
    created = await create(client, [("looks.pdf", png()), ("notes.png", b"just some text\n")])
    png_doc, text_doc = created["documents"]
    assert png_doc["contentType"] == "image/png"
    assert text_doc["status"] == "FAILED"
    assert text_doc["errorCode"] == "UNSUPPORTED_FORMAT"
    assert text_doc["contentType"] is None


async def test_multipart_without_preflight_header_is_refused(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    before = (await Upload.all().count(), stored_files(storage_dir))
    for headers in ({}, {"Apollo-Require-Preflight": ""}):
        response = await upload(client, [("a.png", png())], headers=headers)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_BLOCKED"
    response = await upload(client, [("a.png", png())], headers={"X-Apollo-Operation-Name": "up"})
    assert not response.json().get("errors")
    assert before[0] + 1 == await Upload.all().count()


async def test_file_over_limit_is_rejected_and_nothing_stored(db: str, storage_dir: Path) -> None:
    app = make_app(max_file_bytes=1000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        before = (await Upload.all().count(), stored_files(storage_dir))
        files = [("small.png", png(4, 4)), ("big.png", png(40, 40, "RGB") + b"\0" * 2000)]
        response = await upload(c, files)
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert body["data"] is None
        assert (await Upload.all().count(), stored_files(storage_dir)) == before
        assert not [p for p in (storage_dir / "tmp").iterdir() if p.name.startswith("in-")]


async def test_too_many_files_is_rejected(db: str) -> None:
    app = make_app(max_files=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await upload(c, [("a.png", png())] * 3)
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_request_over_total_limit_is_cut_off(db: str, storage_dir: Path) -> None:
    app = make_app(max_request_bytes=50_000)
    big = png(8, 8) + b"\0" * 60_000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        before = await Upload.all().count()
        # Declared length over the limit: refused before reading the body.
        response = await upload(c, [("big.png", big)])
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        # No declared length (chunked): cut off while counting.
        args = multipart([("big.png", big)])
        request = c.build_request(
            "POST", "/graphql", data=args["data"], files=args["files"], headers=PREFLIGHT
        )
        body = request.read()

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 8192):
                yield body[i : i + 8192]

        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        response = await c.post("/graphql", content=chunks(), headers=headers)
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert await Upload.all().count() == before


async def test_idempotency_key_returns_the_same_upload(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    first = await create(client, [("a.png", png())], key="key-1")
    files_after_first = stored_files(storage_dir)
    second = await create(client, [("a.png", png())], key="key-1")
    assert second["id"] == first["id"]
    assert [d["id"] for d in second["documents"]] == [d["id"] for d in first["documents"]]
    assert stored_files(storage_dir) == files_after_first
    third = await create(client, [("a.png", png())], key="key-2")
    assert third["id"] != first["id"]


def _zip(entries: list[tuple[str, bytes]], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries:
            zf.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


async def test_zip_is_expanded_and_bad_entries_fail(client: httpx.AsyncClient) -> None:
    inner = _zip([("x.png", png())])
    archive = _zip(
        [
            ("dir/a.png", png()),
            ("../evil.png", png()),
            ("/abs.png", png()),
            ("nested.zip", inner),
            ("notes.txt", b"hello"),
            ("b.jpg", jpeg()),
        ],
        symlink="link.png",
    )
    created = await create(client, [("bundle.dat", archive)])
    docs = {d["filename"]: d for d in created["documents"]}
    names = {"dir/a.png", "../evil.png", "/abs.png", "nested.zip", "notes.txt", "b.jpg", "link.png"}
    assert set(docs) == names
    assert docs["dir/a.png"]["status"] != "FAILED"
    assert docs["dir/a.png"]["contentType"] == "image/png"
    assert docs["b.jpg"]["contentType"] == "image/jpeg"
    for name in ("../evil.png", "/abs.png", "nested.zip", "link.png"):
        assert docs[name]["errorCode"] == "UNSAFE_ARCHIVE", name
    assert docs["notes.txt"]["errorCode"] == "UNSUPPORTED_FORMAT"


async def test_zip_bomb_entry_fails_too_large(db: str) -> None:
    app = make_app(max_zip_ratio=50.0)
    bomb = _zip([("zeros.png", png() + b"\0" * 8_000_000), ("ok.png", png())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        created = await create(c, [("bomb.zip", bomb)])
    docs = {d["filename"]: d for d in created["documents"]}
    assert docs["zeros.png"]["errorCode"] == "TOO_LARGE"
    assert docs["ok.png"]["errorCode"] is None


async def test_unreadable_zip_is_one_corrupt_document(client: httpx.AsyncClient) -> None:
    broken = _zip([("a.png", png())])[:40]
    created = await create(client, [("broken.zip", broken)])
    [doc] = created["documents"]
    assert doc["errorCode"] == "CORRUPT_FILE"
    assert created["status"] == "FAILED"


async def test_concurrent_retries_with_one_key_get_one_upload(client: httpx.AsyncClient) -> None:
    results = await asyncio.gather(
        *(create(client, [("a.png", png())], key="race") for _ in range(4))
    )
    assert len({r["id"] for r in results}) == 1
    assert await Upload.filter(idempotency_key="race").count() == 1
