"""The aerich migrations of each dialect build exactly the schema the models describe."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from tests.conftest import PG_ADMIN_URL, RUN_ID

ROOT = Path(__file__).resolve().parents[2]
Schema = dict[str, Any]

GENERATE_SCHEMAS = """
import asyncio, sys
from tortoise import Tortoise
from models.db import tortoise_config

async def main() -> None:
    await Tortoise.init(config=tortoise_config(sys.argv[1]))
    await Tortoise.generate_schemas()
    await Tortoise.close_connections()

asyncio.run(main())
"""


def run(args: list[str], db_url: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a Python module in its own process (aerich keeps global state on its classes)."""
    env = {**os.environ, "PAGEMILL_DATABASE_URL": db_url}
    return subprocess.run(  # noqa: S603
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def migrate(db_url: str) -> subprocess.CompletedProcess[str]:
    result = run(["-m", "models.migrate", "apply"], db_url)
    assert result.returncode == 0, result.stderr
    return result


def generate_schemas(db_url: str) -> None:
    result = run(["-c", GENERATE_SCHEMAS, db_url], db_url)
    assert result.returncode == 0, result.stderr


async def pg_schema(url: str) -> Schema:
    conn = await asyncpg.connect(url)
    try:
        columns = await conn.fetch(
            "select table_name, column_name, data_type, is_nullable, character_maximum_length "
            "from information_schema.columns where table_schema = 'public'"
        )
        indexes = await conn.fetch(
            "select tablename, indexname, indexdef from pg_indexes where schemaname = 'public'"
        )
        constraints = await conn.fetch(
            "select conrelid::regclass::text as tbl, contype, pg_get_constraintdef(oid) as def "
            "from pg_constraint where connamespace = 'public'::regnamespace"
        )
    finally:
        await conn.close()
    return {
        "columns": sorted(tuple(r) for r in columns),
        "indexes": sorted(tuple(r) for r in indexes),
        "constraints": sorted(tuple(r) for r in constraints),
    }


def sqlite_schema(path: Path) -> Schema:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        schema: Schema = {}
        for table in sorted(t for t in tables if not t.startswith("sqlite_")):
            columns = conn.execute(f'pragma table_info("{table}")').fetchall()
            indexes = conn.execute(f'pragma index_list("{table}")').fetchall()
            fks = conn.execute(f'pragma foreign_key_list("{table}")').fetchall()
            schema[table] = {
                # Sorted: SQLite appends added columns, generate_schemas puts foreign keys last.
                "columns": sorted((c[1], c[2].upper(), c[3], c[5]) for c in columns),
                "indexes": sorted((i[1], i[2]) for i in indexes),
                "foreign_keys": sorted((f[2], f[3], f[4], f[6]) for f in fks),
            }
    return schema


async def fresh_pg_database(suffix: str) -> str:
    name = f"pagemill_test_{RUN_ID}_{suffix}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def drop_pg_database(url: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_postgres_migrations_build_the_models_schema() -> None:
    migrated, generated = await fresh_pg_database("mig"), await fresh_pg_database("gen")
    try:
        first = migrate(migrated)
        again = migrate(migrated)
        generate_schemas(generated)
        migrated_schema, generated_schema = await pg_schema(migrated), await pg_schema(generated)
    finally:
        await drop_pg_database(migrated)
        await drop_pg_database(generated)
    assert "applied 0_" in first.stdout
    assert again.stdout.strip() == ""  # nothing left to apply the second time
    tables = {column[0] for column in migrated_schema["columns"]}
    assert {"upload", "document", "page", "event", "worker", "control", "aerich"} <= tables
    assert migrated_schema == generated_schema


def test_sqlite_migrations_build_the_models_schema(tmp_path: Path) -> None:
    migrated, generated = tmp_path / "new" / "migrated.sqlite3", tmp_path / "generated.sqlite3"
    first = migrate(f"sqlite://{migrated}")  # the missing folder is created
    again = migrate(f"sqlite://{migrated}")
    generate_schemas(f"sqlite://{generated}")
    assert "applied 0_" in first.stdout
    assert again.stdout.strip() == ""
    migrated_schema = sqlite_schema(migrated)
    assert {"upload", "document", "page", "event", "worker", "control"} <= set(migrated_schema)
    assert migrated_schema == sqlite_schema(generated)


def test_models_match_the_latest_migrations() -> None:
    result = run(["-m", "models.migrate", "check"], "")
    # On failure the message lists the missing SQL and says: run `make migrations`.
    assert result.returncode == 0, result.stderr


def test_a_model_change_is_drift_until_migrations_are_generated(tmp_path: Path) -> None:
    for name in ("models", "settings.py"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    upload = tmp_path / "models" / "upload.py"
    anchor = "    archive_path = fields.CharField(max_length=512, null=True)\n"
    text = upload.read_text()
    assert anchor in text
    upload.write_text(text.replace(anchor, anchor + "    note = fields.TextField(null=True)\n"))

    drift = run(["-m", "models.migrate", "check"], "", cwd=tmp_path)
    assert drift.returncode == 1
    assert "make migrations" in drift.stderr
    assert '[postgres] ALTER TABLE "upload" ADD "note" TEXT' in drift.stderr
    assert '[sqlite] ALTER TABLE "upload" ADD "note" TEXT' in drift.stderr

    generated = run(["-m", "models.migrate", "generate", "add_note"], "", cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    assert run(["-m", "models.migrate", "check"], "", cwd=tmp_path).returncode == 0
    sqlite_url = f"sqlite://{tmp_path / 'db.sqlite3'}"
    applied = run(["-m", "models.migrate", "apply"], sqlite_url, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "1_" in applied.stdout
    columns = sqlite_schema(tmp_path / "db.sqlite3")["upload"]["columns"]
    assert ("note", "TEXT", 0, 0) in columns
