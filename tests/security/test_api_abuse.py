"""Abuse of the HTTP/GraphQL API: hostile filenames and download paths, oversized and
unauthenticated requests, query-complexity limits, and the metrics counting every refusal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import select
import socket
import threading
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import uvicorn
import websockets
from fastapi import FastAPI

from models.upload import Document, Upload
from tests.e2e.harness import cluster_env, free_port
from tests.gql.conftest import make_app
from tests.gql.support import (
    CREATE,
    PREFLIGHT,
    create,
    graphql,
    png,
    upload,
    wait_for,
    wait_terminal,
)

BOUNDARY = "pagemill-boundary"


def raw_multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A createUpload request built byte by byte, so filenames reach the server exactly as
    given (httpx percent-escapes control characters such as NUL)."""
    operations = {"query": CREATE, "variables": {"files": [None] * len(files), "key": None}}
    mapping = {str(i): [f"variables.files.{i}"] for i in range(len(files))}
    parts = [
        b'Content-Disposition: form-data; name="operations"\r\n\r\n'
        + json.dumps(operations).encode(),
        b'Content-Disposition: form-data; name="map"\r\n\r\n' + json.dumps(mapping).encode(),
    ]
    for i, (name, content) in enumerate(files):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"').encode()
        parts.append(
            b'Content-Disposition: form-data; name="%d"; filename="%s"\r\n' % (i, quoted)
            + b"Content-Type: application/octet-stream\r\n\r\n"
            + content
        )
    delimiter = b"--" + BOUNDARY.encode()
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **PREFLIGHT}
    return body, headers


HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/shadow",
    "a\x00b.png",
    "\x00",
    "%2e%2e%2f%2e%2e%2fescape.png",
    "caf\u00e9 \U0001f600 \u202egnp.exe",
    "line\tbreak\x7f\x1b[31m.png",
    # python-multipart caps a part's header line at 4224 bytes; a longer filename is refused
    # by the parser (400 "Invalid multipart data") before pagemill sees it.
    "\u00e9" * 2000 + ".png",
    "",
]


async def test_client_filenames_are_data_only(client: httpx.AsyncClient, storage_dir: Path) -> None:
    files = [(name, png(8 + i, 8)) for i, name in enumerate(HOSTILE_NAMES)]
    body, headers = raw_multipart(files)
    response = await client.post("/graphql", content=body, headers=headers)
    result = response.json()
    assert not result.get("errors") and "data" in result, result
    created = result["data"]["createUpload"]
    names = [doc["filename"] for doc in sorted(created["documents"], key=lambda d: d["index"])]
    # An empty filename is indistinguishable from no filename in multipart.
    assert names == [name or "unnamed" for name in HOSTILE_NAMES]
    pattern = re.compile(r"uploads/[0-9a-f-]{36}/[0-9a-f-]{36}/original\.png")
    for doc in created["documents"]:
        assert pattern.fullmatch(doc["original"]["path"]), doc["original"]["path"]
    assert not (storage_dir / "etc").exists()
    assert not Path("/etc/escape.png").exists()
    finished = await wait_terminal(client, created["id"])
    assert finished["status"] == "COMPLETED", finished
    stored = await Document.filter(upload_id=created["id"]).order_by("index")
    assert [doc.filename for doc in stored] == names
    for doc in finished["documents"]:
        assert doc["pages"][0]["path"].startswith(doc["original"]["path"].rsplit("/", 1)[0])


async def asgi_get(
    application: FastAPI, raw_path: bytes, headers: dict[str, str] | None = None
) -> int:
    """GET a raw, undecoded path, as a server would hand it to the app (httpx would
    normalise dot segments before sending)."""
    from urllib.parse import unquote_to_bytes

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "surrogateescape"),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    status: list[int] = []
    requested = False
    finished = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await application(scope, receive, send)
    return status[0]


TRAVERSALS = [
    b"/files/uploads/../secret.txt",
    b"/files/uploads/%2e%2e/secret.txt",
    b"/files/uploads/%2E%2E%2Fsecret.txt",
    b"/files/uploads/%252e%252e%252fsecret.txt",
    b"/files/uploads/..%5csecret.txt",
    b"/files/uploads/%c0%ae%c0%ae/secret.txt",
    b"/files/uploads/x%00/../../secret.txt",
    b"/files/secret.txt",
    b"/files//etc/passwd",
    b"/files/uploads//etc/passwd",
    b"/files/uploads/../../../../etc/passwd",
    b"/files/tmp/spooled",
    b"/files/uploads/link-out/passwd",
    b"/files/uploads/link-secret",
    b"/files/uploads/",
]


async def test_downloads_cannot_leave_the_uploads_directory(
    app: FastAPI,
    storage_dir: Path,
) -> None:
    (storage_dir / "secret.txt").write_text("database credentials")
    (storage_dir / "tmp").mkdir(exist_ok=True)
    (storage_dir / "tmp" / "spooled").write_text("someone else's upload in flight")
    uploads = storage_dir / "uploads"
    uploads.mkdir(exist_ok=True)
    for name, target in (("link-out", Path("/etc")), ("link-secret", storage_dir / "secret.txt")):
        link = uploads / name
        if not link.is_symlink():
            link.symlink_to(target)
    inside = uploads / "public.txt"
    inside.write_text("fine")
    try:
        assert await asgi_get(app, b"/files/uploads/public.txt") == 200
        for path in TRAVERSALS:
            assert await asgi_get(app, path) == 404, path
    finally:
        for name in ("link-out", "link-secret", "public.txt"):
            (uploads / name).unlink(missing_ok=True)


async def test_multipart_without_preflight_header_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    before = await Upload.all().count()
    response = await upload(client, [("a.png", png())], headers={})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_BLOCKED"
    assert await Upload.all().count() == before
    assert not list((storage_dir / "tmp").glob("in-*"))


def _nested(depth: int) -> str:
    inner = "id"
    for _ in range(depth):
        inner = f"uploads {{ edges {{ node {{ {inner} }} }} }}"
    return "{ " + inner + " }"


async def test_deep_queries_are_refused_before_execution(client: httpx.AsyncClient) -> None:
    body = await graphql(client, _nested(8))
    assert body["errors"], body
    assert "depth" in body["errors"][0]["message"]
    assert body.get("data") is None


async def test_aliased_queries_are_refused(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: ping" for i in range(200)) + " }"
    body = await graphql(client, query)
    assert "aliases" in body["errors"][0]["message"], body
    assert body.get("data") is None


async def test_huge_token_counts_are_refused(client: httpx.AsyncClient) -> None:
    query = "{ ping " + "__typename " * 5000 + "}"
    body = await graphql(client, query)
    assert "token" in body["errors"][0]["message"].lower(), body
    assert body.get("data") is None


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tasks.service import control

    async def broken(*args: object) -> list[object]:
        raise RuntimeError("secret detail 0xdeadbeef")

    monkeypatch.setattr(control, "live_workers", broken)
    with caplog.at_level(logging.ERROR):
        response = await client.post(
            "/graphql", json={"query": "{ workers { id } }"}, headers={"X-Request-Id": "req-42"}
        )
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-42"}
    assert "0xdeadbeef" not in json.dumps(response.json())
    logged = [r for r in caplog.records if "req-42" in r.getMessage()]
    assert logged and "0xdeadbeef" in (logged[0].exc_text or str(logged[0].exc_info))


async def test_user_errors_keep_their_code(client: httpx.AsyncClient) -> None:
    body = await graphql(client, '{ upload(id: "not-a-uuid") { id } }')
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_graphiql_and_introspection_can_be_switched_off(db: str) -> None:
    quiet = make_app(graphiql=False, introspection=False)
    transport = httpx.ASGITransport(app=quiet)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        page = await c.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        assert page.status_code != 200
        body = await graphql(c, "{ __schema { types { name } } }")
        assert body["errors"] and not body.get("data")
        body = await graphql(c, '{ __type(name: "Upload") { name } }')
        assert body["errors"] and not body.get("data")


@pytest.fixture
async def limited() -> AsyncIterator[httpx.AsyncClient]:
    """An app with small request limits."""
    small = make_app(max_file_bytes=100_000, max_request_bytes=300_000, max_files=3)
    async with small.router.lifespan_context(small):
        transport = httpx.ASGITransport(app=small)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


def _refusal(response: httpx.Response) -> tuple[str, str]:
    error = response.json()["errors"][0]
    return error["extensions"]["code"], error["message"]


async def test_size_limits_name_the_limit_and_the_actual_value(
    db: str, limited: httpx.AsyncClient, storage_dir: Path
) -> None:
    before = await Upload.all().count()
    big = os.urandom(150_000)
    code, message = _refusal(await upload(limited, [("big.png", big)]))
    assert code == "PAYLOAD_TOO_LARGE"
    # Refused while the part streams: the limit, and that the part went past it.
    assert "100000" in message and "more than" in message, message

    code, message = _refusal(await upload(limited, [(f"{i}.png", png()) for i in range(5)]))
    assert code == "PAYLOAD_TOO_LARGE"
    assert "More than 3 files" in message, message

    body, headers = raw_multipart([("a.png", os.urandom(90_000))] * 3 + [("b", b"x")])
    code, message = _refusal(await limited.post("/graphql", content=body, headers=headers))
    assert code == "PAYLOAD_TOO_LARGE", message

    body, headers = raw_multipart([("a.png", os.urandom(90_000))] * 4)
    response = await limited.post("/graphql", content=body, headers=headers)
    assert response.status_code == 413
    code, message = _refusal(response)
    assert code == "PAYLOAD_TOO_LARGE"
    assert "300000" in message and str(len(body)) in message, message

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = await limited.post("/graphql", content=chunks(), headers=headers)
    assert response.status_code == 413
    code, message = _refusal(response)
    assert code == "PAYLOAD_TOO_LARGE"
    assert "300000" in message and "more than" in message, message
    assert await Upload.all().count() == before
    assert not list((storage_dir / "tmp").glob("in-*"))


async def _metric(c: httpx.AsyncClient, name: str, **labels: str) -> float:
    text = (await c.get("/metrics")).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_rejections_are_counted_by_code(
    db: str, limited: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    name = "pagemill_rejections_total"
    codes = ["PAYLOAD_TOO_LARGE", "CSRF_BLOCKED", "BAD_USER_INPUT", "QUERY_TOO_COMPLEX"]
    before = {code: await _metric(client, name, code=code) for code in codes}
    await upload(limited, [("big.png", os.urandom(150_000))])
    await upload(limited, [("a.png", png())], headers={})
    await graphql(limited, '{ upload(id: "nope") { id } }')
    await graphql(limited, _nested(8))
    await graphql(limited, "{ " + " ".join(f"a{i}: ping" for i in range(200)) + " }")
    after = {code: await _metric(client, name, code=code) for code in codes}
    assert after["PAYLOAD_TOO_LARGE"] == before["PAYLOAD_TOO_LARGE"] + 1
    assert after["CSRF_BLOCKED"] == before["CSRF_BLOCKED"] + 1
    assert after["BAD_USER_INPUT"] == before["BAD_USER_INPUT"] + 1
    assert after["QUERY_TOO_COMPLEX"] == before["QUERY_TOO_COMPLEX"] + 2

    secured = make_app(api_tokens=["t0ken"])
    transport = httpx.ASGITransport(app=secured)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        unauth = await _metric(c, name, code="UNAUTHENTICATED")
        await c.post("/graphql", json={"query": "{ ping }"})
        assert await _metric(c, name, code="UNAUTHENTICATED") == unauth + 1


async def test_failed_documents_are_counted_by_error_code(
    client: httpx.AsyncClient,
) -> None:
    body, headers = raw_multipart([("svg.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>")])
    created = (await client.post("/graphql", content=body, headers=headers)).json()
    await wait_terminal(client, created["data"]["createUpload"]["id"])
    count = await _metric(client, "pagemill_documents_failed", error_code="UNSUPPORTED_FORMAT")
    assert count >= 1


@asynccontextmanager
async def serving(application: FastAPI) -> AsyncIterator[str]:
    """uvicorn serving `application` in this event loop (the session lifespan already runs)."""
    port = free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())

    async def started() -> bool:
        return instance.started

    try:
        await wait_for(started, "uvicorn to start", timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        await task


async def ws_init(host: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    """Open a graphql-transport-ws socket, send connection_init; the reply or the close."""
    protocols = [websockets.Subprotocol("graphql-transport-ws")]
    async with (
        asyncio.timeout(30),
        websockets.connect(
            f"ws://{host}/graphql", subprotocols=protocols, additional_headers=headers
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            return json.loads(await ws.recv())
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def test_tokens_guard_graphql_downloads_and_websockets(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await create(client, [("a.png", png())])
    done = await wait_terminal(client, created["id"])
    page_path = done["documents"][0]["pages"][0]["path"]
    secured = make_app(api_tokens=["user-t0ken"], admin_tokens=["admin-t0ken"])
    user = {"Authorization": "Bearer user-t0ken"}
    admin = {"Authorization": "Bearer admin-t0ken"}
    async with serving(secured) as host:
        async with httpx.AsyncClient(base_url=f"http://{host}") as c:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken"}):
                refused = await c.post("/graphql", json={"query": "{ ping }"}, headers=headers)
                assert refused.status_code == 401
                assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                download = await c.get(f"/files/{page_path}", headers=headers)
                assert download.status_code == 401, download.text
                assert download.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            # Made while tokens were off, the upload belongs to no one: admins alone see it.
            assert (await c.get(f"/files/{page_path}", headers=user)).status_code == 404
            assert (await c.get(f"/files/{page_path}", headers=admin)).status_code == 200
            ok = await c.post("/graphql", json={"query": "{ ping }"}, headers=user)
            assert "ping" in ok.json()["data"]
            workers = await c.post("/graphql", json={"query": "{ workers { id } }"}, headers=user)
            assert workers.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            workers = await c.post("/graphql", json={"query": "{ workers { id } }"}, headers=admin)
            assert "errors" not in workers.json(), workers.json()
            assert (await c.get("/healthz")).status_code == 200
            bad_inits: list[Any] = [{}, None, {"token": "wrong"}, {"Authorization": "Bearer wrong"}]
        for payload in bad_inits:
            assert await ws_init(host, payload) == 4401, payload
        for payload in (
            {"Authorization": "Bearer user-t0ken"},
            {"authorization": "Bearer user-t0ken"},
            {"headers": {"Authorization": "Bearer user-t0ken"}},
            {"token": "user-t0ken"},
        ):
            assert (await ws_init(host, payload))["type"] == "connection_ack", payload
        assert (await ws_init(host, {}, headers=user))["type"] == "connection_ack"
    # Tokens are never logged by the server (the test's own clients log what they send).
    clients = ("websockets.client", "httpx", "httpcore")
    server = [r for r in caplog.records if not r.name.startswith(clients)]
    assert not [r.name for r in server if "t0ken" in r.getMessage()]


TWO_GB = 2 * 1024**3
CHUNK = 1024 * 1024


def _preamble() -> bytes:
    """A createUpload request up to the start of its file's bytes."""
    body, _ = raw_multipart([("huge.png", b"")])
    return body[: body.index(b"application/octet-stream\r\n\r\n") + 28]


def _push(port: int, chunked: bool) -> tuple[bytes, int]:
    """Send a 2 GB upload until the server answers or hangs up; its response, bytes sent."""
    head = [
        b"POST /graphql HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY.encode(),
        b"Apollo-Require-Preflight: true",
        b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % TWO_GB,
    ]
    zeros = b"\0" * CHUNK
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        first = _preamble()
        while sent < TWO_GB:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            piece = first or zeros
            first = b""
            frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            try:
                sock.sendall(frame)
            except OSError:  # the server hung up mid-body: expected
                break
            sent += len(piece)
        response = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                response += chunk
                if b"\r\n\r\n" in response and response.rstrip().endswith(b"}"):
                    break
    return response, sent


def _tree_rss(pid: int) -> int:
    process = psutil.Process(pid)
    procs = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running())


def test_api_memory_stays_flat_while_refusing_2_gb_bodies(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("rss")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env |= {
        "PAGEMILL_STORAGE_DIR": str(root / "storage"),
        "PAGEMILL_MAX_REQUEST_BYTES": str(64 * CHUNK),
        "PAGEMILL_LOG_LEVEL": "WARNING",
    }
    with cluster_env(env, root) as cluster:
        cluster.start_api()
        assert cluster.api is not None
        baseline = _tree_rss(cluster.api.pid)
        peak = baseline
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                with contextlib.suppress(psutil.Error):
                    peak = max(peak, _tree_rss(cluster.api.pid))  # type: ignore[union-attr]
                stop.wait(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            declared, declared_sent = _push(cluster.port, chunked=False)
            streamed, streamed_sent = _push(cluster.port, chunked=True)
        finally:
            stop.set()
            sampler.join()
        for response in (declared, streamed):
            assert response.startswith(b"HTTP/1.1 413"), response[:300]
            assert b"PAYLOAD_TOO_LARGE" in response
        assert b"2147483648 bytes" in declared  # the declared size, refused before any body
        assert declared_sent < 64 * CHUNK
        assert streamed_sent < TWO_GB  # cut off on the way
        assert peak - baseline < 50 * 1024 * 1024, (baseline, peak)
        storage = root / "storage"
        assert not list((storage / "tmp").glob("*")) if (storage / "tmp").exists() else True
        assert not (storage / "uploads").exists() or not any((storage / "uploads").iterdir())
