"""The `pagemill` command line: every command documents itself; migrate builds the tables."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli import app
from settings import get_settings

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
