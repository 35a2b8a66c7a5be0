"""A lean GraphQL client for the benchmark: multipart createUpload and uploadEvents over WS."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from client.graphql import multipart_form

CREATE = """mutation($files: [File!]!) { createUpload(files: $files) { id documents { id } } }"""
EVENTS = """subscription($id: ID!) { uploadEvents(id: $id) {
  sequence kind uploadStatus documentId pagesDone pageCount page { number } } }"""
STATUS = """query($id: ID!) { upload(id: $id) {
  id status documentCount pageCount createdAt finishedAt archiveUrl
  documents { id index filename status pageCount errorCode errorMessage
    pages { number width height url } } } }"""
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
PROTOCOL = [websockets.Subprotocol("graphql-transport-ws")]


async def create_upload(graphql_url: str, paths: list[Path]) -> dict[str, Any]:
    """One createUpload with every file, following the GraphQL multipart request spec."""
    files = [(str(i), (p.name, p.read_bytes())) for i, p in enumerate(paths)]
    async with httpx.AsyncClient(timeout=300) as http:
        response = await http.post(
            graphql_url,
            data=multipart_form(CREATE, len(paths)),
            files=files,
            headers={"Apollo-Require-Preflight": "true"},
        )
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"createUpload failed: {body['errors']}")
    return dict(body["data"]["createUpload"])


async def query(graphql_url: str, text: str, variables: dict[str, Any]) -> dict[str, Any]:
    """One GraphQL query over HTTP; GraphQL errors raise."""
    async with httpx.AsyncClient(timeout=60) as http:
        body = (await http.post(graphql_url, json={"query": text, "variables": variables})).json()
    if body.get("errors"):
        raise RuntimeError(f"query failed: {body['errors']}")
    return dict(body["data"])


async def subscribe(ws_url: str) -> ClientConnection:
    """An open graphql-transport-ws connection, acknowledged."""
    # No keepalive pings: a busy host would close healthy connections mid-measurement.
    ws = await websockets.connect(
        ws_url, subprotocols=PROTOCOL, max_queue=None, open_timeout=120, ping_interval=None
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    ack = json.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    return ws


async def follow(
    ws: ClientConnection,
    upload_id: str,
    on_event: Callable[[dict[str, Any], float], Awaitable[None] | None],
) -> None:
    """Subscribe to uploadEvents and pass each event with its receipt time (time.time())
    to on_event until the server completes the stream."""
    payload = {"query": EVENTS, "variables": {"id": upload_id}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    async for raw in ws:
        received = time.time()
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "next":
            if message["payload"].get("errors"):
                raise RuntimeError(f"subscription error: {message['payload']['errors']}")
            result = on_event(message["payload"]["data"]["uploadEvents"], received)
            if result is not None:
                await result
        elif kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif kind == "complete":
            return
        elif kind == "error":
            raise RuntimeError(f"subscription error: {message}")


async def wait_done(ws_url: str, upload_id: str, timeout: float) -> str:
    """Follow an upload until it is terminal; its final status."""
    final: list[str] = []

    def on_event(event: dict[str, Any], _: float) -> None:
        if event["uploadStatus"] in TERMINAL:
            final.append(event["uploadStatus"])

    async with asyncio.timeout(timeout):
        ws = await subscribe(ws_url)
        async with ws:
            await follow(ws, upload_id, on_event)
    if not final:
        raise RuntimeError(f"upload {upload_id}: stream completed without a terminal status")
    return final[-1]
