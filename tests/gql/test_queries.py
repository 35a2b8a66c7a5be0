"""Queries: ids, pagination, DataLoader query counts, abuse limits, conversion results."""

from __future__ import annotations

import io
import uuid
import zipfile

import httpx
import pytest
from fastapi import FastAPI

from models.upload import Document, Page, Status, Upload
from tests.gql.conftest import COUNTING, make_app
from tests.gql.support import create, data, graphql, jpeg, pdf, png, wait_for, wait_terminal

LIST = """query($first: Int, $after: String) {
  uploads(first: $first, after: $after) {
    edges { cursor node { id documents { id filename pages { id number url } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.mark.parametrize("field", ["upload", "document", "page"])
async def test_malformed_id_is_bad_user_input(client: httpx.AsyncClient, field: str) -> None:
    body = await graphql(client, f'{{ {field}(id: "not-a-uuid") {{ id }} }}')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("field", ["upload", "document", "page"])
async def test_unknown_id_is_null(client: httpx.AsyncClient, field: str) -> None:
    result = await data(client, f'{{ {field}(id: "{uuid.uuid4()}") {{ id }} }}')
    assert result == {field: None}


async def test_uploads_are_listed_newest_first_with_cursors(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, [(f"{i}.png", png())]))["id"] for i in range(3)]
    first = (await data(client, LIST, {"first": 2}))["uploads"]
    assert [e["node"]["id"] for e in first["edges"]] == [ids[2], ids[1]]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = (await data(client, LIST, {"first": 1, "after": after}))["uploads"]
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[0]]
    body = await graphql(client, LIST, {"first": 1, "after": "garbage!"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_ping_gives_server_time(client: httpx.AsyncClient) -> None:
    assert (await data(client, "{ ping }"))["ping"].startswith("20")


async def _fake_upload(n_docs: int, n_pages: int) -> None:
    upload = await Upload.create(id=uuid.uuid4(), status=Status.COMPLETED, document_count=n_docs)
    for index in range(1, n_docs + 1):
        doc = await Document.create(
            id=uuid.uuid4(), upload=upload, index=index, filename=f"{index}.pdf",
            sha256="0" * 64, original_path=f"uploads/{upload.id}/x/original.pdf",
            status=Status.COMPLETED, page_count=n_pages,
        )  # fmt: skip
        for number in range(1, n_pages + 1):
            await Page.create(
                id=uuid.uuid4(), document=doc, number=number, width=10, height=10,
                path=f"uploads/{upload.id}/{doc.id}/pages/{number:04d}.png", size_bytes=1,
            )  # fmt: skip


async def test_listing_cost_does_not_grow_with_uploads(
    app: FastAPI, query_counter: list[str]
) -> None:
    transport = httpx.ASGITransport(app=make_app())
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    for _ in range(20):
        await _fake_upload(n_docs=2, n_pages=3)
    counts = {}
    for first in (2, 20):
        query_counter.clear()
        token = COUNTING.set(True)
        try:
            listing = (await data(client, LIST, {"first": first}))["uploads"]["edges"]
        finally:
            COUNTING.reset(token)
        assert len(listing) == first
        assert all(len(e["node"]["documents"]) == 2 for e in listing)
        assert all(len(d["pages"]) == 3 for e in listing for d in e["node"]["documents"])
        counts[first] = len(query_counter)
    assert counts[2] == counts[20] == 3  # uploads, their documents, their pages


async def test_deep_queries_are_rejected_before_execution(client: httpx.AsyncClient) -> None:
    deep = "{ " + "a { " * 12 + "b" + " }" * 12 + " }"
    body = await graphql(client, deep)
    assert any("exceeds maximum operation depth" in e["message"] for e in body["errors"])


async def test_many_aliases_are_rejected(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"p{i}: ping" for i in range(40)) + " }"
    body = await graphql(client, query)
    assert body.get("data") is None
    assert any("alias" in e["message"].lower() for e in body["errors"])


async def test_huge_token_counts_are_rejected(client: httpx.AsyncClient) -> None:
    query = "{ ping " + "__typename " * 5000 + "}"
    body = await graphql(client, query)
    assert body.get("data") is None
    assert any("token" in e["message"].lower() for e in body["errors"])


async def test_converted_upload_has_pages_and_downloads(client: httpx.AsyncClient) -> None:
    original = pdf(2)
    files = [("doc.pdf", original), ("p.png", png(300, 200)), ("j.jpg", jpeg())]
    created = await create(client, files)
    assert created["status"] in ("PENDING", "IN_PROGRESS")
    done = await wait_terminal(client, created["id"])
    assert done["status"] == "COMPLETED", done
    doc, image, photo = done["documents"]
    assert doc["pageCount"] == 2 and [p["number"] for p in doc["pages"]] == [1, 2]
    assert (image["pages"][0]["width"], image["pages"][0]["height"]) == (300, 200)
    assert (photo["pages"][0]["width"], photo["pages"][0]["height"]) == (80, 60)
    assert done["pageCount"] == 4
    for page in doc["pages"] + image["pages"]:
        assert 0 < page["width"] <= 3500 and 0 < page["height"] <= 3500
        response = await client.get(page["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG")
        assert len(response.content) == page["sizeBytes"]
    response = await client.get(doc["original"]["url"])
    assert response.content == original
    assert response.headers["content-type"] == "application/pdf"
    archive = await wait_for(
        lambda: _archive_url(client, done["id"]), "the archive to be written", timeout=60
    )
    response = await client.get(archive)
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert "manifest.json" in zf.namelist()
        assert sum(name.endswith(".png") for name in zf.namelist()) == 4
    query = "query($id: ID!) { page(id: $id) { number url } }"
    page = (await data(client, query, {"id": doc["pages"][1]["id"]}))["page"]
    assert page == {"number": 2, "url": doc["pages"][1]["url"]}


async def _archive_url(client: httpx.AsyncClient, upload_id: str) -> str | None:
    query = "query($id: ID!) { upload(id: $id) { archiveUrl } }"
    url = (await data(client, query, {"id": upload_id}))["upload"]["archiveUrl"]
    return str(url) if url else None


async def test_cancel_upload_cancels_open_documents(client: httpx.AsyncClient) -> None:
    await data(client, "mutation { pauseProcessing { paused } }")
    try:
        created = await create(client, [("a.pdf", pdf(1)), ("b.png", png())])
        cancel = (
            "mutation($id: ID!) { cancelUpload(id: $id) {"
            " id status documents { status errorCode } } }"
        )
        result = (await data(client, cancel, {"id": created["id"]}))["cancelUpload"]
    finally:
        state = (await data(client, "mutation { resumeProcessing { paused } }"))["resumeProcessing"]
    assert state == {"paused": False}
    assert result["status"] == "CANCELLED"
    assert {d["status"] for d in result["documents"]} == {"CANCELLED"}
    assert {d["errorCode"] for d in result["documents"]} == {"CANCELLED"}
    unknown = await data(client, cancel, {"id": str(uuid.uuid4())})
    assert unknown == {"cancelUpload": None}


async def test_retry_of_a_pending_document_is_refused(client: httpx.AsyncClient) -> None:
    created = await create(client, [("t.txt", b"plain text")])
    retry = "mutation($id: ID!) { retryDocument(id: $id) { id status } }"
    failed = created["documents"][0]
    assert failed["status"] == "FAILED"
    retried = (await data(client, retry, {"id": failed["id"]}))["retryDocument"]
    assert retried["status"] == "PENDING"
    again = await graphql(client, retry, {"id": failed["id"]})
    assert again["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT",)
    await wait_terminal(client, created["id"])


async def test_urls_use_the_public_url_when_set(db: str) -> None:
    from tests.gql.conftest import make_app

    app = make_app(public_url="https://pages.example.com/")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as c:
        created = await create(c, [("a.png", png())])
    url = created["documents"][0]["original"]["url"]
    assert url == f"https://pages.example.com/files/{created['documents'][0]['original']['path']}"


async def test_graphiql_is_served_to_browsers_at_graphql(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
