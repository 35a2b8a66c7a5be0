"""Who may do what over a real server: admin operations need an admin token, uploads
belong to the principal that created them, and no URL is built from a client's Host."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from fastapi import FastAPI

from tests.gql.conftest import make_app
from tests.gql.support import GET_UPLOAD, multipart, png
from tests.security.test_api_abuse import serving
from tests.waiting import eventually

ALICE = {"Authorization": "Bearer alice-t0ken"}
BOB = {"Authorization": "Bearer b0b-bare-token"}  # a bare token, as before names existed
ROOT = {"Authorization": "Bearer r00t-t0ken"}
TOKENS = {
    "api_tokens": ["alice:alice-t0ken", "b0b-bare-token"],
    "admin_tokens": ["root:r00t-t0ken"],
}


async def _gql(
    c: httpx.AsyncClient, query: str, headers: dict[str, str], **variables: Any
) -> dict[str, Any]:
    response = await c.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return dict(response.json())


async def _finished(c: httpx.AsyncClient, upload_id: str) -> dict[str, Any]:
    async def archived() -> dict[str, Any] | None:
        found = (await _gql(c, GET_UPLOAD, ALICE, id=upload_id))["data"]["upload"]
        done = found["status"] in ("COMPLETED", "FAILED") and found["archiveUrl"]
        return dict(found) if done else None

    return await eventually(archived, 60, f"upload {upload_id} to finish with its archive")


async def test_admin_operations_need_an_admin_token_when_only_api_tokens_are_set(
    app: FastAPI,
) -> None:
    only_api = make_app(api_tokens=["alice:alice-t0ken"])
    async with serving(only_api) as host, httpx.AsyncClient(base_url=f"http://{host}") as c:
        for operation in (
            "mutation { pauseProcessing { paused } }",
            "mutation { resumeProcessing { paused } }",
            "{ workers { id } }",
        ):
            body = await _gql(c, operation, ALICE)
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert (await _gql(c, "{ ping }", ALICE))["data"]["ping"]


async def test_api_docs_follow_the_token_rule(app: FastAPI) -> None:
    secured = make_app(**TOKENS)
    async with serving(secured) as host, httpx.AsyncClient(base_url=f"http://{host}") as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            refused = await c.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert (await c.get(path, headers=BOB)).status_code == 200, path


async def _subscribe(host: str, upload_id: str, token: str) -> list[dict[str, Any]]:
    """Every message a graphql-transport-ws subscription to the upload gets."""
    protocols = [websockets.Subprotocol("graphql-transport-ws")]
    query = "subscription($id: ID!) { uploadEvents(id: $id) { kind } }"
    messages: list[dict[str, Any]] = []
    async with (
        asyncio.timeout(30),
        websockets.connect(f"ws://{host}/graphql", subprotocols=protocols) as ws,
    ):
        init = {"type": "connection_init", "payload": {"token": token}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        start = {"query": query, "variables": {"id": upload_id}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": start}))
        while not messages or messages[-1]["type"] not in ("complete", "error"):
            messages.append(json.loads(await ws.recv()))
    return messages


async def test_uploads_belong_to_the_principal_that_created_them(app: FastAPI) -> None:
    secured = make_app(**TOKENS)
    async with serving(secured) as host, httpx.AsyncClient(base_url=f"http://{host}") as c:
        form = multipart([("a.png", png())], key="same-key")
        created = (await c.post("/graphql", **form, headers=ALICE)).json()["data"]["createUpload"]
        done = await _finished(c, created["id"])
        document, page = done["documents"][0], done["documents"][0]["pages"][0]
        ids = {"upload": done["id"], "document": document["id"], "page": page["id"]}
        urls = [document["original"]["url"], page["url"], done["archiveUrl"]]
        listing = "{ uploads(first: 100) { edges { node { id } } } }"

        for who, sees in ((ALICE, True), (ROOT, True), (BOB, False)):
            for field, ident in ids.items():
                found = (await _gql(c, f'{{ {field}(id: "{ident}") {{ id }} }}', who))["data"]
                assert (found[field] is not None) is sees, (who, field)
            listed = (await _gql(c, listing, who))["data"]["uploads"]["edges"]
            assert (done["id"] in [e["node"]["id"] for e in listed]) is sees, who
            for url in urls:
                assert (await c.get(url, headers=who)).status_code == (200 if sees else 404)
            job = await c.get(f"/api/v1/jobs/{done['id']}", headers=who)
            assert job.status_code == (200 if sees else 404), job.text
            zipped = await c.get(f"/api/v1/jobs/{done['id']}/download", headers=who)
            assert zipped.status_code == (200 if sees else 404)

        cancel = "mutation($id: ID!) { cancelUpload(id: $id) { id } }"
        assert (await _gql(c, cancel, BOB, id=done["id"]))["data"]["cancelUpload"] is None
        retry = "mutation($id: ID!) { retryDocument(id: $id) { id } }"
        assert (await _gql(c, retry, BOB, id=document["id"]))["data"]["retryDocument"] is None
        assert (await c.delete(f"/api/v1/jobs/{done['id']}", headers=BOB)).status_code == 404
        # Idempotency keys are per principal: Bob's "same-key" is a new upload of his own.
        bobs = (await c.post("/graphql", **form, headers=BOB)).json()["data"]["createUpload"]
        again = (await c.post("/graphql", **form, headers=ALICE)).json()["data"]["createUpload"]
        assert bobs["id"] != done["id"] and again["id"] == done["id"]

        refused = await _subscribe(host, done["id"], "b0b-bare-token")
        # Exactly what an unknown upload gets: no snapshot, a NOT_FOUND error.
        [error] = refused[0]["payload"]["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND" and not refused[0]["payload"]["data"]
        followed = await _subscribe(host, done["id"], "alice-t0ken")
        assert followed[0]["payload"]["data"]["uploadEvents"]["kind"] == "SNAPSHOT"
        assert followed[-1]["type"] == "complete"


async def test_urls_never_reflect_a_hosts_header_it_does_not_know(app: FastAPI) -> None:
    evil = {"Host": "evil.example"}
    query = "{ uploads(first: 1) { edges { node { archiveUrl } } } }"
    strict = make_app(allowed_hosts=["127.0.0.1"])
    async with serving(strict) as host, httpx.AsyncClient(base_url=f"http://{host}") as c:
        refused = await c.post("/graphql", json={"query": query}, headers=evil)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "evil.example" in refused.json()["errors"][0]["message"]
        rest = await c.post("/api/v1/jobs", files={"files": ("a.png", png())}, headers=evil)
        assert rest.status_code == 400 and rest.json()["code"] == "BAD_USER_INPUT"
        form = multipart([("a.png", png())])
        ok = await c.post("/graphql", **form, headers={"Apollo-Require-Preflight": "1"})
        assert ok.json()["data"]["createUpload"]["documents"][0]["original"]["url"].startswith(
            f"http://{host}/files/uploads/"
        )
    public = make_app(public_url="https://pages.example.com")
    async with serving(public) as host, httpx.AsyncClient(base_url=f"http://{host}") as c:
        headers = {**evil, "Apollo-Require-Preflight": "1"}
        created = (await c.post("/graphql", **form, headers=headers)).json()["data"]
        url = created["createUpload"]["documents"][0]["original"]["url"]
        assert url.startswith("https://pages.example.com/files/uploads/"), url
        job = await c.post("/api/v1/jobs", files={"files": ("a.png", png())}, headers=headers)
        assert job.json()["status_url"].startswith("https://pages.example.com/api/v1/jobs/")
