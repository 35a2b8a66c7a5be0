"""Idempotency keys expire after their TTL; cancelled documents can be retried."""

from __future__ import annotations

from datetime import timedelta

import httpx

from models.upload import Upload
from settings import get_settings
from tasks.service.documents import now
from tests.gql.support import create, data, graphql, png, wait_terminal

RETRY = "mutation($id: ID!) { retryDocument(id: $id) { id status errorCode } }"
CANCEL = "mutation($id: ID!) { cancelUpload(id: $id) { id status } }"
STATUS = "query($id: ID!) { upload(id: $id) { status documents { status pageCount } } }"


async def test_a_key_older_than_its_ttl_starts_a_new_upload(client: httpx.AsyncClient) -> None:
    first = await create(client, [("a.png", png())], key="ttl-key")
    again = await create(client, [("a.png", png())], key="ttl-key")
    assert again["id"] == first["id"]
    ttl = get_settings().idempotency_ttl
    await Upload.filter(id=first["id"]).update(created_at=now() - timedelta(seconds=ttl + 1))

    fresh = await create(client, [("a.png", png())], key="ttl-key")

    assert fresh["id"] != first["id"]
    assert (await Upload.get(id=first["id"])).idempotency_key is None
    assert (await create(client, [("a.png", png())], key="ttl-key"))["id"] == fresh["id"]


async def test_retrying_a_cancelled_document_reopens_its_upload(
    client: httpx.AsyncClient,
) -> None:
    await data(client, "mutation { pauseProcessing { paused } }")
    try:
        created = await create(client, [("a.png", png(30, 20)), ("b.png", png(10, 10))])
        cancelled = (await data(client, CANCEL, {"id": created["id"]}))["cancelUpload"]
        assert cancelled["status"] == "CANCELLED"
        doc = created["documents"][0]

        retried = (await data(client, RETRY, {"id": doc["id"]}))["retryDocument"]

        assert retried == {"id": doc["id"], "status": "PENDING", "errorCode": None}
        upload = (await data(client, STATUS, {"id": created["id"]}))["upload"]
        assert upload["status"] == "IN_PROGRESS"
    finally:
        await data(client, "mutation { resumeProcessing { paused } }")
    final = await wait_terminal(client, created["id"])
    statuses = [d["status"] for d in final["documents"]]
    assert statuses == ["COMPLETED", "CANCELLED"]
    # The other document stays cancelled, so the upload ends cancelled again.
    assert final["status"] == "CANCELLED"
    again = await graphql(client, RETRY, {"id": final["documents"][0]["id"]})
    assert again["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
