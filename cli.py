"""The `pagemill` command: run the API and workers, migrate, and talk to a running server."""

from __future__ import annotations

import asyncio
import functools
import json
import mimetypes
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import httpx
import typer
import websockets
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column, Table
from websockets.exceptions import WebSocketException

from settings import get_settings

app = typer.Typer(help="Documents in, PNG pages out.", no_args_is_help=True)
admin_app = typer.Typer(help="Operate a running cluster.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
console = Console()
P = ParamSpec("P")

DEFAULT_URL = "http://127.0.0.1:8000/graphql"
Url = Annotated[str, typer.Option("--url", envvar="PAGEMILL_URL", help="GraphQL endpoint.")]
Token = Annotated[
    str | None, typer.Option("--token", envvar="PAGEMILL_TOKEN", help="Bearer token.")
]
WS_PING_SECONDS = 20.0  # keepalive for graphql-transport-ws, which has no ping of its own
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
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


def client_command(func: Callable[P, None]) -> Callable[P, None]:
    """Report server and network failures as one line and exit 1, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except (ClientError, httpx.HTTPError, WebSocketException, OSError) as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc

    return wrapper


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


class ProgressView:
    """Pages done / page count and documents done, fed by upload events."""

    def __init__(self, progress: Progress, documents: int) -> None:
        self.progress = progress
        self.documents = documents
        self.pages: dict[str, tuple[int, int | None]] = {}
        self.done: set[str] = set()
        self.task = progress.add_task("converting", total=None)

    def seed(self, upload: dict[str, Any]) -> None:
        """Per-document counts from a status query (the snapshot only has sums)."""
        for doc in upload["documents"]:
            self.pages[doc["id"]] = (len(doc["pages"]), doc["pageCount"])
            if doc["status"] in TERMINAL:
                self.done.add(doc["id"])
        self.render()

    def on_event(self, event: dict[str, Any]) -> None:
        """Fold one document event into the counters."""
        doc = event.get("documentId")
        if doc and event["kind"] != "SNAPSHOT":
            self.pages[doc] = (event.get("pagesDone") or 0, event.get("pageCount"))
            if event.get("documentStatus") in TERMINAL:
                self.done.add(doc)
        self.render()

    def render(self) -> None:
        """Redraw the bar; its total stays open until every page count is known."""
        # A document that failed before counting its pages adds none.
        counts = [0 if c is None and d in self.done else c for d, (_, c) in self.pages.items()]
        known = len(counts) == self.documents and None not in counts
        total = sum(c or 0 for c in counts) if known else None
        done = sum(d for d, _ in self.pages.values())
        label = f"documents {len(self.done)}/{self.documents}, pages"
        self.progress.update(self.task, completed=done, total=total, description=label)


def follow(url: str, upload: dict[str, Any], token: str | None) -> None:
    """Show a live progress bar for an upload until it is terminal."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        view = ProgressView(progress, len(upload["documents"]))

        def on_event(event: dict[str, Any]) -> None:
            if event["kind"] == "SNAPSHOT":
                view.seed(graphql(url, UPLOAD_STATUS, {"id": upload["id"]}, token)["upload"])
            else:
                view.on_event(event)

        asyncio.run(watch_events(url, upload["id"], token, on_event))


def print_upload(upload: dict[str, Any]) -> None:
    """Tables of an upload's documents, pages and errors."""
    console.print(f"upload [bold]{upload['id']}[/] {upload['status']}")
    docs = Table("#", "document", "filename", "status", "pages")
    pages = Table("document", "page", "size", Column("url", overflow="fold"))
    errors = Table("filename", "error", "message")
    for doc in upload["documents"]:
        docs.add_row(str(doc["index"]), doc["id"], doc["filename"], doc["status"],
                     str(doc["pageCount"] if doc["pageCount"] is not None else "-"))  # fmt: skip
        for page in doc["pages"]:
            size = f"{page['width']}x{page['height']}"
            pages.add_row(doc["filename"], str(page["number"]), size, page["url"])
        if doc["errorCode"]:
            errors.add_row(doc["filename"], doc["errorCode"], doc["errorMessage"] or "")
    console.print(docs)
    if pages.row_count:
        console.print(pages)
    if errors.row_count:
        console.print(errors)
    if upload.get("archiveUrl"):
        console.print(f"archive: {upload['archiveUrl']}")


def fetch_upload(url: str, upload_id: str, token: str | None) -> dict[str, Any]:
    """The upload with its documents and pages; exits when it does not exist."""
    upload: dict[str, Any] | None = graphql(url, UPLOAD_STATUS, {"id": upload_id}, token)["upload"]
    if upload is None:
        console.print(f"[red]no upload {upload_id}[/]")
        raise typer.Exit(1)
    return upload


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Run the API (and, with no Redis configured, the embedded worker)."""
    import uvicorn

    from models.migrate import apply_migrations, dialect_of
    from tasks.logs import setup_logging

    settings = get_settings()
    setup_logging(settings.log_level, settings.log_json)
    if dialect_of(settings.db_url) == "sqlite":
        # The embedded default has no separate migrate step: bring SQLite up to date here.
        asyncio.run(apply_migrations(settings.db_url))
    from gql.serving import uvicorn_options

    uvicorn.run(
        "gql.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        **uvicorn_options(settings),
        ws_ping_interval=WS_PING_SECONDS,
        ws_ping_timeout=WS_PING_SECONDS,
        # Events are a few hundred bytes of JSON: compressing each one for each subscriber
        # cost more CPU in the fan-out than it saved in bytes.
        ws_per_message_deflate=False,
        log_level=settings.log_level.lower(),
    )


@app.command()
def worker(
    processes: Annotated[int, typer.Option(help="Worker processes on this host.")] = 1,
) -> None:
    """Run conversion workers fed by the Redis broker."""
    from tasks.worker import main  # type: ignore[import-not-found, import-untyped, unused-ignore]

    if status := main(processes=processes):
        raise typer.Exit(status)


@app.command()
def migrate() -> None:
    """Apply the database migrations (PostgreSQL or SQLite, from the database URL)."""
    from models.migrate import apply_migrations

    applied = asyncio.run(apply_migrations())
    console.print("\n".join(f"applied {name}" for name in applied) or "database is up to date")


@app.command()
@client_command
def upload(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Files.")],
    url: Url = DEFAULT_URL,
    watch: Annotated[bool, typer.Option(help="Follow progress, then print the result.")] = False,
    idempotency_key: Annotated[str | None, typer.Option(help="Same key, same upload.")] = None,
    token: Token = None,
) -> None:
    """Upload files for conversion."""
    created = upload_files(url, files, idempotency_key, token)
    if not watch:
        console.print(f"upload [bold]{created['id']}[/] {created['status']}")
        for doc in created["documents"]:
            console.print(f"  {doc['id']}  {doc['filename']}")
        return
    follow(url, created, token)
    print_upload(fetch_upload(url, created["id"], token))


@app.command()
@client_command
def status(upload_id: Annotated[str, typer.Argument(metavar="ID")], url: Url = DEFAULT_URL,
           token: Token = None) -> None:  # fmt: skip
    """Show an upload's documents, pages and errors."""
    print_upload(fetch_upload(url, upload_id, token))


def _processing(url: str, mutation: str, token: str | None) -> dict[str, Any]:
    query = f"mutation {{ {mutation} {{ {PROCESSING} }} }}"
    state: dict[str, Any] = graphql(url, query, {}, token)[mutation]
    return state


@admin_app.command()
@client_command
def pause(url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Stop handing out new documents (running ones finish)."""
    console.print(_processing(url, "pauseProcessing", token))


@admin_app.command()
@client_command
def resume(url: Url = DEFAULT_URL, token: Token = None) -> None:
    """Hand out documents again."""
    console.print(_processing(url, "resumeProcessing", token))


@admin_app.command()
@client_command
def drain(
    url: Url = DEFAULT_URL,
    token: Token = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 1.0,
) -> None:
    """Pause, then wait until no document is in flight."""
    # pauseProcessing is idempotent and returns the current state, so it doubles as the poll.
    while (state := _processing(url, "pauseProcessing", token))["inProgressDocuments"]:
        console.print(f"paused, {state['inProgressDocuments']} in progress")
        time.sleep(interval)
    console.print("drained: paused with nothing in flight")


@admin_app.command()
@client_command
def workers(url: Url = DEFAULT_URL, token: Token = None) -> None:
    """List live workers with their heartbeats."""
    table = Table("worker", "host", "pid", "heartbeat", "document", "done", "rss MiB")
    for w in graphql(url, WORKERS, {}, token)["workers"]:
        table.add_row(w["id"], w["host"], str(w["pid"]), str(w["heartbeatAt"]),
                      w["currentDocument"] or "-", str(w["conversionsDone"]),
                      str(int(w["rssBytes"]) // (1024 * 1024)))  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    app()
