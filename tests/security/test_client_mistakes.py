"""Client mistakes over a real server get typed client errors, never a server error, and no
message carries an absolute server path or echoes a huge value whole."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import websockets
from fastapi import FastAPI

from tasks.engine.errors import without_paths
from tests.gql.conftest import make_app
from tests.gql.support import CREATE, PREFLIGHT, jpeg, multipart, png, wait_terminal
from tests.security.test_api_abuse import raw_multipart, serving

ABSOLUTE = re.compile(r"(?<![\w.:/])/[^\s'\"]+/")
TYPED_CLIENT_CODES = {"BAD_USER_INPUT", "BAD_REQUEST", "PAYLOAD_TOO_LARGE"}


def _code(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.text
    body = response.json()
    return str(body["errors"][0]["extensions"]["code"])


def _files_variable(value: Any) -> tuple[bytes, dict[str, str]]:
    """A createUpload whose `files` variable is `value` instead of mapped file parts."""
    operations = {"query": CREATE, "variables": {"files": value}}
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{json.dumps(operations)}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{}}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}", **PREFLIGHT}


async def _ws_messages(
    host: str, payload: Any, protocol: str = "graphql-transport-ws"
) -> list[dict[str, Any]]:
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    async with (
        asyncio.timeout(30),
        websockets.connect(
            f"ws://{host}/graphql", subprotocols=[websockets.Subprotocol(protocol)]
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": start, "payload": payload}))
        while (message := json.loads(await ws.recv()))["type"] == "ka":
            pass  # the legacy protocol's keep-alives
        return [message]


async def test_each_client_mistake_gets_a_typed_client_error(app: FastAPI) -> None:
    async with serving(make_app(max_files=3)) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}", timeout=60) as c:
            for wrong in ("a string", {"an": "object"}, ["a string"], [{"an": "object"}], 5):
                body, headers = _files_variable(wrong)
                response = await c.post("/graphql", content=body, headers=headers)
                assert _code(response) in TYPED_CLIENT_CODES, (wrong, response.text)
            deep = b'{"query": "{ ping }", "variables": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
            nested = await c.post(
                "/graphql", content=deep, headers={"Content-Type": "application/json"}
            )
            assert nested.status_code == 400 and _code(nested) in TYPED_CLIENT_CODES
            body, headers = raw_multipart([("n" * 10_000 + ".png", png())])
            long_name = await c.post("/graphql", content=body, headers=headers)
            assert long_name.status_code == 400 and _code(long_name) == "BAD_USER_INPUT"
            body, headers = raw_multipart([(f"{i}.png", png()) for i in range(5)])
            too_many = await c.post("/graphql", content=body, headers=headers)
            assert too_many.status_code == 413 and _code(too_many) == "PAYLOAD_TOO_LARGE"
            huge_id = "x" * 1_000_000
            found = await c.post(
                "/graphql",
                json={
                    "query": "query($id: ID!) { upload(id: $id) { id } }",
                    "variables": {"id": huge_id},
                },
            )
            assert _code(found) == "BAD_USER_INPUT" and len(found.content) < 2000
            job = await c.get(f"/api/v1/jobs/{'y' * 5_000}")
            assert job.status_code == 400 and len(job.content) < 2000
        for payload in ({"query": 5}, {"query": None}, {"query": "{ ping }", "variables": 7}):
            [message] = await _ws_messages(host, payload)
            assert message["type"] == "error", (payload, message)
            assert message["payload"][0]["extensions"]["code"] == "BAD_REQUEST", message
            [legacy] = await _ws_messages(host, payload, "graphql-ws")
            assert legacy["type"] == "error", (payload, legacy)
            assert legacy["payload"]["extensions"]["code"] == "BAD_REQUEST", legacy


async def test_error_messages_name_no_server_path(app: FastAPI, storage_dir: Path) -> None:
    broken = [
        ("cut.png", png(300, 300)[:400]),
        ("cut.jpg", jpeg(400, 300)[:300]),
        ("bad.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF"),
    ]
    async with (
        serving(make_app()) as host,
        httpx.AsyncClient(base_url=f"http://{host}", timeout=60) as c,
    ):
        created = (await c.post("/graphql", **multipart(broken), headers=PREFLIGHT)).json()
        done = await wait_terminal(c, created["data"]["createUpload"]["id"])
    messages = [d["errorMessage"] or "" for d in done["documents"]]
    assert all(d["status"] == "FAILED" for d in done["documents"]), messages
    root = str(storage_dir.resolve())
    for message in messages:
        assert root not in message and not ABSOLUTE.search(message), message


def test_paths_are_cut_from_messages() -> None:
    text = 'VipsForeignLoad: "/srv/pm/uploads/u/d/original.png" is not a known file format'
    assert without_paths(text) == 'VipsForeignLoad: "original.png" is not a known file format'
    assert without_paths("[Errno 28] No space left: '/data/tmp/in-1'") == (
        "[Errno 28] No space left: 'in-1'"
    )
    kept = "see http://host/files/uploads/a.png, page 3 of a/b.pdf"
    assert without_paths(kept) == kept
