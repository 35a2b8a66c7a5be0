"""Status polls: an unchanged upload is answered after one indexed read, and any change to
it (an event, from any process, its zip, or a change no event records) is seen at the next
poll."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tortoise.transactions import in_transaction

from models.events import append_event
from models.upload import Document, EventKind, Status, Upload, WebhookDelivery
from settings import get_settings
from tasks.sandbox.runner import ConversionOutcome
from tasks.service import control, documents, recovery, sweeper, uploads
from tasks.service.pages import keep_rendition
from tests.gql.conftest import COUNTING, make_app

LEASE = "host:1:worker:run"

STATUS = """query($id: ID!) { upload(id: $id) {
  id status documentCount pageCount archiveUrl
  documents { id filename status pageCount attempts errorCode pdf { path }
    pages { number url } } } }"""


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


async def an_upload(owner: str | None = None, lease: timedelta = timedelta(minutes=5)) -> Upload:
    """An upload with one document in progress, leased to LEASE."""
    upload = await Upload.create(
        id=uuid.uuid4(), status=Status.IN_PROGRESS, document_count=1, owner=owner
    )
    await Document.create(
        id=uuid.uuid4(), upload=upload, index=1, filename="a.pdf", sha256="0" * 64,
        original_path=f"uploads/{upload.id}/x/original.pdf", status=Status.IN_PROGRESS,
        attempts=1, lease_owner=LEASE, lease_expires=documents.now() + lease,
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


async def only_document(upload: Upload) -> Document:
    """The upload's one document."""
    return await Document.get(upload_id=upload.id)


async def test_a_pdf_rendition_recorded_mid_conversion_shows_at_once(
    client: httpx.AsyncClient,
) -> None:
    upload = await an_upload()
    assert b'"pdf":null' in await poll(client, upload.id)
    key = f"uploads/{upload.id}/x/original.pdf"
    await keep_rendition((await only_document(upload)).id, upload.id, key)
    assert f'"pdf":{{"path":"{key}"}}'.encode() in await poll(client, upload.id)


async def test_a_retriable_failure_putting_a_document_back_shows_at_once(
    client: httpx.AsyncClient,
) -> None:
    upload = await an_upload()
    assert b'"status":"IN_PROGRESS"' in await poll(client, upload.id)
    killed = ConversionOutcome(None, "RESOURCE_LIMIT", "killed", retriable=True)
    doc = await only_document(upload)
    _, retry = await documents.finish_document(doc.id, LEASE, killed, get_settings())
    assert retry
    answer = await poll(client, upload.id)
    assert b'"status":"PENDING"' in answer and b'"errorCode":"RESOURCE_LIMIT"' in answer


async def test_a_document_given_back_on_shutdown_shows_at_once(client: httpx.AsyncClient) -> None:
    upload = await an_upload()
    assert b'"attempts":1' in await poll(client, upload.id)
    assert await documents.release((await only_document(upload)).id, LEASE)
    answer = await poll(client, upload.id)
    assert b'"status":"PENDING"' in answer and b'"attempts":0' in answer


@pytest.fixture
async def paused() -> AsyncIterator[None]:
    """Processing paused, so a queued document stays PENDING; resumed afterwards, with the
    test's documents (which have no files) cancelled so the embedded worker skips them."""
    await control.set_paused(True)
    try:
        yield
    finally:
        fake = Document.filter(status=Status.PENDING, sha256="0" * 64)  # an_upload's documents
        await fake.update(status=Status.CANCELLED)
        await control.set_paused(False)


async def test_a_swept_expired_lease_shows_at_once(client: httpx.AsyncClient, paused: None) -> None:
    upload = await an_upload(lease=timedelta(seconds=-1))
    assert b'"status":"IN_PROGRESS"' in await poll(client, upload.id)
    assert await sweeper._expired_leases(get_settings()) == [(await only_document(upload)).id]
    assert b'"status":"PENDING"' in await poll(client, upload.id)


async def test_a_document_handed_back_after_an_outage_shows_at_once(
    client: httpx.AsyncClient, paused: None
) -> None:
    upload = await an_upload()
    assert b'"status":"IN_PROGRESS"' in await poll(client, upload.id)
    doc = await only_document(upload)
    assert await recovery.requeue_missed({doc.id}, "host:1:worker") == [doc.id]
    answer = await poll(client, upload.id)
    assert b'"status":"PENDING"' in answer and b'"attempts":0' in answer


async def test_a_page_count_learnt_mid_conversion_shows_at_once(
    client: httpx.AsyncClient,
) -> None:
    upload = await an_upload()
    assert b'"pageCount":null' in await poll(client, upload.id)
    await documents.set_page_count((await only_document(upload)).id, LEASE, 7)
    assert b'"pageCount":7' in await poll(client, upload.id)


async def test_a_retried_document_shows_at_once(client: httpx.AsyncClient) -> None:
    upload = await an_upload()
    doc = await only_document(upload)
    await Document.filter(id=doc.id).update(status=Status.FAILED, lease_owner=None)
    await Upload.filter(id=upload.id).update(status=Status.FAILED)
    assert b'"status":"FAILED"' in await poll(client, upload.id)
    assert await uploads.retry_document(doc.id)
    answer = await poll(client, upload.id)
    assert b'"status":"IN_PROGRESS"' in answer and b'"status":"PENDING"' in answer
