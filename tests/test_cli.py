"""The `pagemill` command line: every command documents itself; migrate builds the tables."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from PIL import Image
from rich.progress import Progress
from typer.testing import CliRunner, Result
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from cli import app
from client.graphql import watch_events
from client.progress import ProgressView
from settings import get_settings
from tests.e2e.harness import BIN, PROJECT, Cluster, cluster_env, free_port

COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["upload"],
    ["status"],
    ["admin"],
    ["admin", "pause"],
    ["admin", "resume"],
    ["admin", "drain"],
    ["admin", "workers"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "pagemill")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_names_the_documented_options() -> None:
    runner = CliRunner()
    serve = runner.invoke(app, ["serve", "--help"]).output
    upload = runner.invoke(app, ["upload", "--help"]).output
    worker = runner.invoke(app, ["worker", "--help"]).output
    assert "--host" in serve and "--port" in serve
    assert "--processes" in worker
    for option in ("--url", "--watch", "--idempotency-key", "--token"):
        assert option in upload


def invoke_in_fresh_thread(args: list[str]) -> Result:
    # A new thread starts with an empty contextvars context, so the command's own Tortoise
    # set-up cannot touch the one the test session's fixtures hold.
    results: list[Result] = []
    thread = threading.Thread(target=lambda: results.append(CliRunner().invoke(app, args)))
    thread.start()
    thread.join()
    return results[0]


def test_migrate_creates_the_tables_on_a_new_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = tmp_path / "storage"  # does not exist yet: migrate creates it
    monkeypatch.setenv("PAGEMILL_STORAGE_DIR", str(storage))
    monkeypatch.setenv("PAGEMILL_DATABASE_URL", "")
    get_settings.cache_clear()
    try:
        first = invoke_in_fresh_thread(["migrate"])
        second = invoke_in_fresh_thread(["migrate"])
    finally:
        get_settings.cache_clear()
    assert first.exit_code == 0, first.output
    assert "applied 0_" in first.output
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output
    with sqlite3.connect(storage / "pagemill.sqlite3") as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
    assert {"upload", "document", "page", "event", "worker", "control", "aerich"} <= tables


def test_status_reports_an_unreachable_server_without_a_traceback() -> None:
    result = CliRunner().invoke(
        app, ["status", "00000000-0000-0000-0000-000000000000", "--url", "http://127.0.0.1:9/x"]
    )
    assert result.exit_code == 1
    assert "error:" in result.output


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`pagemill serve` on the embedded default, in a storage directory of its own."""
    root = tmp_path_factory.mktemp("cli-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(PAGEMILL_STORAGE_DIR=str(root / "storage"), COLUMNS="200")
    with cluster_env(env, root) as cluster:
        cluster.start_api()
        yield cluster


def pagemill(cluster: Cluster, *args: str, code: int = 0, **env: str) -> str:
    """Run the command in a process of its own (`--url` is the cluster's unless `args` or
    PAGEMILL_PORT say otherwise); its output, once its exit status is `code`."""
    given = "--url" in args or "PAGEMILL_PORT" in env
    result = subprocess.run(
        [str(BIN / "pagemill"), *args, *([] if given else ["--url", cluster.graphql_url])],
        cwd=PROJECT,
        env={**cluster.env, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == code, output + cluster.log_tail()
    assert "Traceback" not in output, output
    return output


def test_upload_watch_prints_pages_and_errors(server: Cluster, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    Image.new("RGB", (800, 600), "teal").save(image)
    pdf = tmp_path / "two.pdf"
    pages = [Image.new("RGB", (612, 792), "white"), Image.new("RGB", (792, 612), "grey")]
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=72.0)
    text = tmp_path / "notes.pdf"  # a PDF by name only
    text.write_text("plain text")

    # A document was not converted: the exit status says so (3), after the full report.
    out = pagemill(server, "upload", str(image), str(pdf), str(text), "--watch", code=3)

    upload_id = re.search(r"upload (\S+) COMPLETED", out)
    assert upload_id, out
    assert "documents 3/3" in out
    assert re.search(r"photo\.png\s+│ 1\s+│ 800x600\s+│ http://127\.0\.0\.1:\d+/files/", out)
    assert re.search(r"two\.pdf\s+│ 2\s+│ \d+x\d+", out)
    assert re.search(r"notes\.pdf\s+│ UNSUPPORTED_FORMAT", out)
    status = pagemill(server, "status", upload_id.group(1))
    assert "800x600" in status and "UNSUPPORTED_FORMAT" in status


def test_upload_watch_exits_zero_when_every_document_converts(
    server: Cluster, tmp_path: Path
) -> None:
    image = tmp_path / "fine.png"
    Image.new("RGB", (40, 30), "blue").save(image)
    assert re.search(r"upload \S+ COMPLETED", pagemill(server, "upload", str(image), "--watch"))


def test_default_url_follows_pagemill_port(server: Cluster) -> None:
    assert "worker" in pagemill(server, "admin", "workers", PAGEMILL_PORT=str(server.port))


def test_a_wrong_url_is_named_with_the_reason(server: Cluster) -> None:
    closed = f"http://127.0.0.1:{free_port()}/graphql"
    out = pagemill(server, "status", str(uuid4()), "--url", closed, code=1)
    assert f"cannot connect to {closed}: Connection refused" in out, out
    out = pagemill(server, "admin", "workers", code=1, PAGEMILL_PORT=str(free_port()))
    assert "cannot connect to http://127.0.0.1:" in out and "Connection refused" in out, out
    wrong_path = f"{server.url}/not-graphql"
    out = pagemill(server, "status", str(uuid4()), "--url", wrong_path, code=1)
    assert f"{wrong_path} answered 404" in out, out


def test_upload_with_the_same_idempotency_key_returns_the_same_upload(
    server: Cluster, tmp_path: Path
) -> None:
    image = tmp_path / "a.png"
    Image.new("RGB", (40, 30), "red").save(image)
    first = pagemill(server, "upload", str(image), "--idempotency-key", "cli-key")
    again = pagemill(server, "upload", str(image), "--idempotency-key", "cli-key")
    upload_id = re.search(r"upload (\S+)", first)
    assert upload_id and upload_id.group(1) in again


def test_admin_pause_drain_resume_and_workers(server: Cluster) -> None:
    assert "'paused': True" in pagemill(server, "admin", "pause")
    assert "drained" in pagemill(server, "admin", "drain")
    assert "'paused': False" in pagemill(server, "admin", "resume")
    assert "worker" in pagemill(server, "admin", "workers")


async def test_watch_resumes_after_a_dropped_connection() -> None:
    subscriptions: list[dict[str, Any]] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.subprotocol == "graphql-transport-ws"
        assert json.loads(await ws.recv())["type"] == "connection_init"
        await ws.send(json.dumps({"type": "connection_ack"}))
        variables = json.loads(await ws.recv())["payload"]["variables"]
        subscriptions.append(variables)
        if len(subscriptions) == 1:
            await ws.send(json.dumps(next_message(1)))
            return  # dropped without `complete`
        await ws.send(json.dumps(next_message(2)))
        await ws.send(json.dumps({"id": "1", "type": "complete"}))

    seen: list[int] = []
    protocols = [Subprotocol("graphql-transport-ws")]
    async with serve(handler, "127.0.0.1", 0, subprotocols=protocols) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        url = f"http://127.0.0.1:{port}/graphql"
        await watch_events(url, "u1", None, lambda event: seen.append(event["sequence"]))
    assert seen == [1, 2]
    assert subscriptions == [{"id": "u1", "after": None}, {"id": "u1", "after": 1}]


def next_message(sequence: int) -> dict[str, Any]:
    event = {"sequence": sequence, "kind": "PAGE_DONE", "documentId": "d1"}
    return {"id": "1", "type": "next", "payload": {"data": {"uploadEvents": event}}}


def test_progress_counts_a_document_that_failed_before_counting_pages() -> None:
    with Progress() as progress:
        view = ProgressView(progress, documents=2)
        view.on_event({"kind": "PAGE_DONE", "documentId": "a", "pagesDone": 2, "pageCount": 3,
                       "documentStatus": "IN_PROGRESS"})  # fmt: skip
        view.on_event({"kind": "DOCUMENT_FAILED", "documentId": "b", "pagesDone": 0,
                       "pageCount": None, "documentStatus": "FAILED"})  # fmt: skip
        task = progress.tasks[0]
        assert (task.completed, task.total) == (2, 3)
        assert task.description.startswith("documents 1/2")
