"""A GraphQL client for end-to-end tests: multipart uploads, queries, and subscriptions."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

from client.graphql import multipart_form
from tests.waiting import eventually

PREFLIGHT = {"Apollo-Require-Preflight": "true"}

UPLOAD_FIELDS = """
  id status createdAt finishedAt documentCount pageCount archiveUrl
  documents {
    id index filename status contentType sizeBytes sha256 pageCount errorCode errorMessage
    deduplicatedFrom
    original { path url sizeBytes }
    pages { id number width height path url sizeBytes }
  }
"""

CREATE = (
    "mutation($files: [File!]!, $key: String) {"
    f" createUpload(files: $files, idempotencyKey: $key) {{ {UPLOAD_FIELDS} }} }}"
)
GET = f"query($id: ID!) {{ upload(id: $id) {{ {UPLOAD_FIELDS} }} }}"
WORKERS = "{ workers { pid heartbeatAt currentDocument } }"

EVENTS = """
subscription($id: ID!, $after: Int) {
  uploadEvents(id: $id, after: $after) {
    sequence kind uploadId uploadStatus documentId documentStatus pagesDone pageCount errorCode
    page { id number width height path url sizeBytes }
  }
}
"""


async def execute(
    graphql_url: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run one GraphQL operation over HTTP POST and return its data (errors fail the test)."""
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(graphql_url, json={"query": query, "variables": variables})
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"])


async def create_upload(
    graphql_url: str, paths: list[Path], key: str | None = None
) -> dict[str, Any]:
    """Upload files in one request following the GraphQL multipart request spec."""
    files = [(str(i), (p.name, p.read_bytes())) for i, p in enumerate(paths)]
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(
            graphql_url,
            data=multipart_form(CREATE, len(paths), key),
            files=files,
            headers=PREFLIGHT,
        )
    body = response.json()
    assert not body.get("errors"), body
    return dict(body["data"]["createUpload"])


async def get_upload(graphql_url: str, upload_id: str) -> dict[str, Any] | None:
    """The Upload as a client queries it."""
    upload = (await execute(graphql_url, GET, {"id": upload_id}))["upload"]
    return dict(upload) if upload is not None else None


async def wait_terminal(graphql_url: str, upload_id: str, timeout: float = 180) -> dict[str, Any]:
    """Poll the upload until it is terminal (COMPLETED, FAILED or CANCELLED)."""

    async def terminal() -> dict[str, Any] | None:
        upload = await get_upload(graphql_url, upload_id)
        assert upload is not None
        return upload if upload["status"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    return await eventually(terminal, timeout, f"upload {upload_id} to be terminal", interval=0.2)


async def nobody_converts(graphql_url: str, document_id: str, since: datetime) -> bool:
    """True when every live worker process has sent a heartbeat after `since` that names
    another document or none: nothing of `document_id` can still be under way."""
    workers = (await execute(graphql_url, WORKERS))["workers"]
    live = [w for w in workers if psutil.pid_exists(w["pid"])]
    return all(
        datetime.fromisoformat(w["heartbeatAt"]) > since and w["currentDocument"] != document_id
        for w in live
    )


async def subscribe(
    ws_url: str,
    upload_id: str,
    after: int | None = None,
    stop_after: int | None = None,
    timeout: float = 180,
) -> list[dict[str, Any]]:
    """Events of `uploadEvents` over graphql-transport-ws until the server completes
    (or until `stop_after` events, then the client disconnects)."""
    events: list[dict[str, Any]] = []
    async with (
        asyncio.timeout(timeout),
        websockets.connect(
            ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        variables = {"id": upload_id, "after": after}
        payload = {"query": EVENTS, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                assert not message["payload"].get("errors"), message
                events.append(message["payload"]["data"]["uploadEvents"])
                if stop_after is not None and len(events) >= stop_after:
                    break
            elif message["type"] == "complete":
                break
            else:
                raise AssertionError(f"unexpected message {message}")
    return events
