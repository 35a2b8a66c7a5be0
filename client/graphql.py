"""The GraphQL client behind the `pagemill` commands: queries over HTTP, multipart uploads,
and the uploadEvents subscription over WebSocket (graphql-transport-ws), resumed after drops."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import websockets

WS_PING_SECONDS = 20.0  # keepalive for graphql-transport-ws, which has no ping of its own
RECONNECTS = 5  # a dropped subscription resumes after the last sequence seen

CREATE_UPLOAD = """mutation($files: [File!]!, $key: String) {
  createUpload(files: $files, idempotencyKey: $key) { id status documents { id filename } } }"""
UPLOAD_STATUS = """query($id: ID!) { upload(id: $id) {
  id status documentCount pageCount createdAt finishedAt archiveUrl
  documents { id index filename status pageCount errorCode errorMessage
    pages { number width height url } } } }"""
UPLOAD_EVENTS = """subscription($id: ID!, $after: Int) { uploadEvents(id: $id, after: $after) {
  sequence kind uploadStatus documentId documentStatus pagesDone pageCount errorCode } }"""
PROCESSING = "paused pendingDocuments inProgressDocuments activeWorkers"
WORKERS = "query { workers { id host pid heartbeatAt currentDocument conversionsDone rssBytes } }"


class ClientError(Exception):
    """The server answered with GraphQL errors or an unexpected message."""


def _headers(token: str | None) -> dict[str, str]:
    # A non-empty Apollo-Require-Preflight lets multipart requests through the CSRF guard.
    headers = {"Apollo-Require-Preflight": "true"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _data(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # not GraphQL at all, e.g. a proxy's error page
        response.raise_for_status()
        raise ClientError(f"not a GraphQL response from {response.url}") from None
    if body.get("errors"):
        raise ClientError("; ".join(e.get("message", str(e)) for e in body["errors"]))
    response.raise_for_status()
    data: dict[str, Any] = body["data"]
    return data


def graphql(url: str, query: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
    """Run one GraphQL query or mutation over HTTP and return its data."""
    payload = {"query": query, "variables": variables}
    return _data(httpx.post(url, json=payload, headers=_headers(token), timeout=60))


def multipart_form(query: str, count: int, key: str | None = None) -> dict[str, str]:
    """The `operations` and `map` fields of a GraphQL multipart request whose file parts,
    named "0".."count-1", fill `$files` in order (plus `$key` when given)."""
    variables: dict[str, Any] = {"files": [None] * count}
    if key is not None:
        variables["key"] = key
    operations = {"query": query, "variables": variables}
    file_map = {str(i): [f"variables.files.{i}"] for i in range(count)}
    return {"operations": json.dumps(operations), "map": json.dumps(file_map)}


def upload_files(url: str, files: list[Path], key: str | None, token: str | None) -> dict[str, Any]:
    """Send files as a GraphQL multipart request (operations, map, then one part per file)."""
    with ExitStack() as stack:
        parts = {
            str(i): (path.name, stack.enter_context(path.open("rb")), _mime(path))
            for i, path in enumerate(files)
        }
        form = multipart_form(CREATE_UPLOAD, len(files), key)
        response = httpx.post(url, data=form, files=parts, headers=_headers(token), timeout=300)
    upload: dict[str, Any] = _data(response)["createUpload"]
    return upload


def _mime(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _ws_url(url: str) -> str:
    return "ws" + url.removeprefix("http") if url.startswith("http") else url


Handler = Callable[[dict[str, Any]], None]


async def _subscribe(url: str, variables: dict[str, Any], token: str | None, on: Handler) -> None:
    # The token goes in the handshake's headers, where the API's guard reads it.
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with websockets.connect(
        _ws_url(url),
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        if json.loads(await ws.recv()).get("type") != "connection_ack":
            raise ClientError("server refused the WebSocket connection")
        query = {"query": UPLOAD_EVENTS, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif kind == "next":
                if message["payload"].get("errors"):
                    raise ClientError(str(message["payload"]["errors"]))
                on(message["payload"]["data"]["uploadEvents"])
            elif kind == "error":
                raise ClientError(str(message.get("payload")))
            elif kind == "complete":
                return
        raise websockets.ConnectionClosedError(None, None)


async def watch_events(url: str, upload_id: str, token: str | None, on: Handler) -> None:
    """Follow uploadEvents until the server completes the stream, resuming after drops."""
    seen: dict[str, int | None] = {"after": None}

    def track(event: dict[str, Any]) -> None:
        seen["after"] = event["sequence"]
        on(event)

    for attempt in range(RECONNECTS + 1):
        try:
            await _subscribe(url, {"id": upload_id, **seen}, token, track)
            return
        except (websockets.ConnectionClosedError, OSError):
            if attempt == RECONNECTS:
                raise
            await asyncio.sleep(1.0 + attempt)  # e.g. an API replica restarting
