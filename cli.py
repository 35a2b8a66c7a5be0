"""The `pagemill` command: run the API and workers, migrate, and talk to a running server."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import httpx
import typer
from rich.console import Console
from rich.table import Table
from websockets.exceptions import WebSocketException

from client.failures import explain
from client.graphql import (
    PROCESSING,
    UPLOAD_STATUS,
    WORKERS,
    WS_PING_SECONDS,
    ClientError,
    graphql,
    upload_files,
)
from client.progress import follow, print_upload
from settings import get_settings

app = typer.Typer(help="Documents in, PNG pages out.", no_args_is_help=True)
admin_app = typer.Typer(help="Operate a running cluster.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
console = Console()
P = ParamSpec("P")

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="PAGEMILL_URL",
        help="GraphQL endpoint (default: http://127.0.0.1:$PAGEMILL_PORT/graphql, 8000 unset)",
        show_default=False,
    ),
]
# `upload --watch`: the upload finished, but not every document was converted. 1 stays for
# "could not use the server" and 2 is click's usage error, so scripts can tell them apart.
EXIT_DOCUMENT_FAILED = 3
Token = Annotated[
    str | None, typer.Option("--token", envvar="PAGEMILL_TOKEN", help="Bearer token.")
]


def endpoint(url: str | None) -> str:
    """The URL given, else a server on this host at PAGEMILL_PORT (where `serve` listens)."""
    return url or f"http://127.0.0.1:{get_settings().port}/graphql"


def client_command(func: Callable[P, None]) -> Callable[P, None]:
    """Report server and network failures as one line naming the URL tried and why, and
    exit 1, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except (ClientError, httpx.HTTPError, WebSocketException, OSError) as exc:
            given = kwargs.get("url")
            url = endpoint(given if isinstance(given, str) else None)
            console.print(f"[red]error:[/] {explain(url, exc)}", highlight=False)
            raise typer.Exit(1) from exc

    return wrapper


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
    processes: Annotated[
        int, typer.Option(help="Worker processes on this host; they share its cores.")
    ] = 1,
) -> None:
    """Run conversion workers fed by the Redis broker."""
    from tasks.runtime.supervisor import main

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
    url: Url = None,
    watch: Annotated[bool, typer.Option(help="Follow progress, then print the result.")] = False,
    idempotency_key: Annotated[str | None, typer.Option(help="Same key, same upload.")] = None,
    token: Token = None,
) -> None:
    """Upload files for conversion; with --watch, exit 3 when a document was not converted."""
    url = endpoint(url)
    created = upload_files(url, files, idempotency_key, token)
    if not watch:
        console.print(f"upload [bold]{created['id']}[/] {created['status']}")
        for doc in created["documents"]:
            console.print(f"  {doc['id']}  {doc['filename']}")
        return
    follow(url, created, token)
    final = fetch_upload(url, created["id"], token)
    print_upload(final)
    if any(doc["status"] != "COMPLETED" for doc in final["documents"]):
        raise typer.Exit(EXIT_DOCUMENT_FAILED)


@app.command()
@client_command
def status(upload_id: Annotated[str, typer.Argument(metavar="ID")], url: Url = None,
           token: Token = None) -> None:  # fmt: skip
    """Show an upload's documents, pages and errors."""
    print_upload(fetch_upload(endpoint(url), upload_id, token))


def _processing(url: str, mutation: str, token: str | None) -> dict[str, Any]:
    query = f"mutation {{ {mutation} {{ {PROCESSING} }} }}"
    state: dict[str, Any] = graphql(url, query, {}, token)[mutation]
    return state


@admin_app.command()
@client_command
def pause(url: Url = None, token: Token = None) -> None:
    """Stop handing out new documents (running ones finish)."""
    console.print(_processing(endpoint(url), "pauseProcessing", token))


@admin_app.command()
@client_command
def resume(url: Url = None, token: Token = None) -> None:
    """Hand out documents again."""
    console.print(_processing(endpoint(url), "resumeProcessing", token))


@admin_app.command()
@client_command
def drain(
    url: Url = None,
    token: Token = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 1.0,
) -> None:
    """Pause, then wait until no document is in flight."""
    # pauseProcessing is idempotent and returns the current state, so it doubles as the poll.
    while (state := _processing(endpoint(url), "pauseProcessing", token))["inProgressDocuments"]:
        console.print(f"paused, {state['inProgressDocuments']} in progress")
        time.sleep(interval)
    console.print("drained: paused with nothing in flight")


@admin_app.command()
@client_command
def workers(url: Url = None, token: Token = None) -> None:
    """List live workers with their heartbeats."""
    table = Table("worker", "host", "pid", "heartbeat", "document", "done", "rss MiB")
    for w in graphql(endpoint(url), WORKERS, {}, token)["workers"]:
        table.add_row(w["id"], w["host"], str(w["pid"]), str(w["heartbeatAt"]),
                      w["currentDocument"] or "-", str(w["conversionsDone"]),
                      str(int(w["rssBytes"]) // (1024 * 1024)))  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    app()
