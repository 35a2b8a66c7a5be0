"""Status polls: an unchanged upload is answered after one indexed read, and any change to
it (an event, from any process, or its zip) is seen at the next poll."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tortoise.transactions import in_transaction

from models.progress import append_event
from models.upload import Document, EventKind, Status, Upload, WebhookDelivery
from tests.gql.conftest import COUNTING, make_app

STATUS = """query($id: ID!) { upload(id: $id) {
  id status documentCount pageCount archiveUrl
  documents { id filename status pageCount pages { number url } } } }"""


async def poll(client: httpx.AsyncClient, upload_id: uuid.UUID, **headers: str) -> bytes:
    """The raw answer to the status query."""
    response = await client.post(
        "/graphql", json={"query": STATUS, "variables": {"id": str(upload_id)}}, headers=headers
    )
    assert response.status_code == 200
    return response.content


async def counted(query_counter: list[str], client: httpx.AsyncClient, upload_id: Any) -> int:
    """The statements one poll runs."""
    query_counter.clear()
    token = COUNTING.set(True)
    try:
        await poll(client, upload_id)
    finally:
        COUNTING.reset(token)
    return len(query_counter)


async def an_upload(owner: str | None = None) -> Upload:
    """An upload with one document in progress."""
    upload = await Upload.create(
        id=uuid.uuid4(), status=Status.IN_PROGRESS, document_count=1, owner=owner
    )
    await Document.create(
        id=uuid.uuid4(), upload=upload, index=1, filename="a.pdf", sha256="0" * 64,
        original_path=f"uploads/{upload.id}/x/original.pdf", status=Status.IN_PROGRESS,
    )  # fmt: skip
    return upload


async def test_unchanged_upload_costs_one_read_and_changes_show_at_once(
    client: httpx.AsyncClient, query_counter: list[str]
) -> None:
    upload = await an_upload()
    first = await poll(client, upload.id)
    assert await counted(query_counter, client, upload.id) == 1
    assert await poll(client, upload.id) == first
    # Another process finishing the upload: a new event moves the sequence.
    async with in_transaction():
        await Upload.filter(id=upload.id).update(status=Status.COMPLETED)
        await append_event(upload.id, EventKind.UPLOAD_DONE)
    done = await poll(client, upload.id)
    assert b'"status":"COMPLETED"' in done and b'"archiveUrl":null' in done
    # The zip is written after the last event.
    await Upload.filter(id=upload.id).update(archive_path=f"uploads/{upload.id}/all.zip")
    assert f"/files/uploads/{upload.id}/all.zip".encode() in await poll(client, upload.id)


async def test_unknown_and_malformed_ids_are_answered_each_time(
    client: httpx.AsyncClient,
) -> None:
    missing = uuid.uuid4()
    assert b'"upload":null' in await poll(client, missing)
    await an_upload()
    assert b'"upload":null' in await poll(client, missing)
    response = await client.post("/graphql", json={"query": STATUS, "variables": {"id": "x"}})
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture
async def owned() -> AsyncIterator[httpx.AsyncClient]:
    """An app with two principals, alice and bob."""
    app = make_app(api_tokens=["alice:alice-token", "bob:bob-token"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


async def test_one_callers_answer_is_never_anothers(owned: httpx.AsyncClient) -> None:
    upload = await an_upload(owner="alice")
    for _ in range(2):
        mine = await poll(owned, upload.id, Authorization="Bearer alice-token")
        assert str(upload.id).encode() in mine
        theirs = await poll(owned, upload.id, Authorization="Bearer bob-token")
        assert b'"upload":null' in theirs


async def test_a_new_webhook_attempt_shows_at_once(client: httpx.AsyncClient) -> None:
    upload = await an_upload()
    query = "query($id: ID!) { upload(id: $id) { id webhookDeliveries { attempt status } } }"
    variables = {"id": str(upload.id)}
    before = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert before["data"]["upload"]["webhookDeliveries"] == []
    # A worker logs an attempt: no event, so the upload's sequence stays where it was.
    await WebhookDelivery.create(
        upload=upload, message_id="msg_1", event="upload.completed", url="http://x/", attempt=1
    )
    after = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert after["data"]["upload"]["webhookDeliveries"] == [{"attempt": 1, "status": "PENDING"}]
