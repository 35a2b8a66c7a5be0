"""Helpers for API tests: GraphQL over HTTP (multipart too), sample files, waiting."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from PIL import Image

from client.graphql import multipart_form
from tests.waiting import eventually

PREFLIGHT = {"Apollo-Require-Preflight": "true"}
DOCUMENT_FIELDS = """
  id index filename status contentType sizeBytes sha256 pageCount errorCode errorMessage
  original { path url sizeBytes sha256 contentType }
  pages { id number width height path url sizeBytes }
"""
UPLOAD_FIELDS = f"""
  id status createdAt finishedAt documentCount pageCount archiveUrl
  documents {{ {DOCUMENT_FIELDS} }}
"""
CREATE = (
    "mutation($files: [File!]!, $key: String) {"
    f" createUpload(files: $files, idempotencyKey: $key) {{ {UPLOAD_FIELDS} }} }}"
)
CREATE_WITH_HOOK = (
    "mutation($files: [File!]!, $hook: String) {"
    " createUpload(files: $files, webhookUrl: $hook) { id status } }"
)
GET_UPLOAD = f"query($id: ID!) {{ upload(id: $id) {{ {UPLOAD_FIELDS} }} }}"


async def graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    """POST one operation; returns the whole response body."""
    response = await client.post("/graphql", json={"query": query, "variables": variables}, **kw)
    return dict(response.json())


async def data(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> Any:
    """The data of an operation that must succeed."""
    body = await graphql(client, query, variables)
    assert not body.get("errors"), body
    return body["data"]


def multipart(files: list[tuple[str, bytes]], key: str | None = None) -> dict[str, Any]:
    """httpx arguments for createUpload following the GraphQL multipart request spec."""
    return {
        "data": multipart_form(CREATE, len(files), key),
        "files": [(str(i), (name, content)) for i, (name, content) in enumerate(files)],
    }


async def upload(
    client: httpx.AsyncClient,
    files: list[tuple[str, bytes]],
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send createUpload as a multipart request."""
    return await client.post(
        "/graphql", **multipart(files, key), headers=PREFLIGHT if headers is None else headers
    )


async def create_with_hook(
    client: httpx.AsyncClient, files: list[tuple[str, bytes]], hook: str
) -> dict[str, Any]:
    """createUpload with a webhookUrl; the whole response body."""
    form = multipart_form(CREATE_WITH_HOOK, len(files))
    operations = json.loads(form["operations"])
    operations["variables"]["hook"] = hook
    form["operations"] = json.dumps(operations)
    response = await client.post(
        "/graphql",
        data=form,
        files=[(str(i), (name, content)) for i, (name, content) in enumerate(files)],
        headers=PREFLIGHT,
    )
    return dict(response.json())


async def create(
    client: httpx.AsyncClient, files: list[tuple[str, bytes]], key: str | None = None
) -> dict[str, Any]:
    """createUpload that must succeed; returns the Upload."""
    body = (await upload(client, files, key)).json()
    assert not body.get("errors"), body
    return dict(body["data"]["createUpload"])


def png(width: int = 64, height: int = 48, mode: str = "RGBA") -> bytes:
    """A small PNG."""
    buffer = io.BytesIO()
    color = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    Image.new(mode, (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(width: int = 80, height: int = 60) -> bytes:
    """A small JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def pdf(pages: int = 2) -> bytes:
    """A PDF with `pages` A4-ish pages."""
    images = [Image.new("RGB", (595, 842), (255, 255, 255 - 40 * i)) for i in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return buffer.getvalue()


async def wait_for(probe: Callable[[], Awaitable[Any]], what: str, timeout: float = 120.0) -> Any:
    """Poll `probe` until it returns something truthy, or fail after `timeout` seconds."""
    return await eventually(probe, timeout, what)


async def wait_terminal(client: httpx.AsyncClient, upload_id: str) -> dict[str, Any]:
    """The upload once it is COMPLETED, FAILED or CANCELLED."""

    async def probe() -> dict[str, Any] | None:
        found = (await data(client, GET_UPLOAD, {"id": upload_id}))["upload"]
        return found if found["status"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    return dict(await wait_for(probe, f"upload {upload_id} to finish"))
