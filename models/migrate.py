"""Apply, generate and check aerich migrations, one location per SQL dialect.

aerich writes raw SQL for the dialect that generated a migration, so PostgreSQL and SQLite
each keep their own history under models/migrations/<dialect>/models/.

    python -m models.migrate apply            # what `pagemill migrate` runs
    python -m models.migrate generate NAME    # what `make migrations` runs (both dialects)
    python -m models.migrate check            # fails when models differ from the last migration
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from aerich import Command
from aerich.ddl.sqlite import SqliteDDL
from aerich.migrate import Migrate
from aerich.utils import get_models_describe
from tortoise import Tortoise

from models.db import tortoise_config
from settings import get_settings

APP = "models"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DIALECTS = ("postgres", "sqlite")
# Offline generation only needs a connection object of the right dialect, never a server.
OFFLINE_URLS = {"postgres": "postgres://offline@127.0.0.1:1/offline", "sqlite": "sqlite://:memory:"}
REGENERATE_HINT = "models and migrations differ: run `make migrations` and commit the result"


class MigrationDriftError(RuntimeError):
    """The models describe a schema that the latest migration does not create."""


def dialect_of(db_url: str) -> str:
    """The aerich dialect ("postgres" or "sqlite") of a Tortoise database URL."""
    scheme = db_url.split("://", 1)[0].lower()
    if scheme in ("postgres", "postgresql", "asyncpg", "psycopg"):
        return "postgres"
    if scheme == "sqlite":
        return "sqlite"
    raise ValueError(f"unsupported database URL scheme: {scheme!r}")


def location_for(dialect: str) -> Path:
    """The aerich location (parent of the app folder) holding one dialect's migrations."""
    return MIGRATIONS_DIR / dialect


def migration_files(dialect: str) -> list[Path]:
    """The migration files of one dialect, oldest first."""
    folder = Migrate.get_migration_dir(str(location_for(dialect)), APP)
    files = [p for p in folder.glob("*.py") if p.stem.split("_", 1)[0].isdigit()]
    return sorted(files, key=lambda p: int(p.stem.split("_", 1)[0]))


def _sqlite_path(db_url: str) -> Path | None:
    path = db_url.split("://", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def _reset_migrate_state() -> None:
    # aerich keeps its diff in class attributes; clear them so calls do not accumulate.
    for name in (
        "upgrade_operators",
        "downgrade_operators",
        "_upgrade_fk_m2m_index_operators",
        "_downgrade_fk_m2m_index_operators",
        "_upgrade_m2m",
        "_downgrade_m2m",
    ):
        setattr(Migrate, name, [])
    Migrate._rename_fields = {}
    Migrate._last_version_content = None


async def apply_migrations(db_url: str | None = None) -> list[str]:
    """Bring the database up to the latest migration; returns the files applied."""
    url = db_url or get_settings().db_url
    dialect = dialect_of(url)
    if dialect == "sqlite" and (path := _sqlite_path(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not migration_files(dialect):
        raise RuntimeError(f"no {dialect} migrations under {location_for(dialect)}")
    _reset_migrate_state()
    command = Command(tortoise_config(url), app=APP, location=str(location_for(dialect)))
    async with command:
        applied: list[str] = await command.upgrade(run_in_transaction=True)
    return applied


def _no_comments_on_sqlite() -> None:
    # SQLite has no column comments, yet aerich raises NotSupportError for a changed one (a
    # CharEnumField's comment lists its values, so adding an enum value changes it): on
    # SQLite there is nothing to change, so write nothing.
    def set_comment(self: SqliteDDL, model: Any, field_describe: dict[str, Any]) -> str:
        return ""

    def add_operator(cls: type[Migrate], operator: str, *args: Any, **kwargs: Any) -> None:
        if operator.strip():
            original_add_operator.__func__(cls, operator, *args, **kwargs)  # type: ignore[attr-defined]

    original_add_operator = Migrate._add_operator
    SqliteDDL.set_comment = set_comment  # type: ignore[method-assign]
    Migrate._add_operator = classmethod(add_operator)  # type: ignore[assignment,method-assign]


_no_comments_on_sqlite()


async def _init_offline(dialect: str) -> Command:
    _reset_migrate_state()
    command = Command(
        tortoise_config(OFFLINE_URLS[dialect]), app=APP, location=str(location_for(dialect))
    )
    await Tortoise.init(config=command.tortoise_config)
    await command.init(offline=True)
    return command


async def generate_migration(dialect: str, name: str = "update") -> str | None:
    """Write the next migration of one dialect (the initial one if none); None if no change."""
    await _init_offline(dialect)
    try:
        if not migration_files(dialect):
            command = Command(
                tortoise_config(OFFLINE_URLS[dialect]), app=APP, location=str(location_for(dialect))
            )
            await command.init_migrations(safe=True)
            return migration_files(dialect)[-1].name
        version: str | None = await Migrate.migrate(name, empty=False, offline=True)
        return version or None
    finally:
        await Tortoise.close_connections()


async def pending_changes(dialect: str) -> list[str]:
    """SQL that a new migration of this dialect would need; empty when nothing drifted."""
    if not migration_files(dialect):
        return [f"no {dialect} migrations yet"]
    await _init_offline(dialect)
    try:
        new: dict[str, Any] = get_models_describe(APP)
        old: dict[str, Any] = Migrate._last_version_content or {}
        old, new = Migrate._exclude_model_name_changes(old, new)
        # no_input=True: aerich would otherwise prompt about renames; any change counts here.
        Migrate.diff_models(old, new, no_input=True)
        Migrate.diff_models(new, old, False, no_input=True)
        Migrate._merge_operators()
        return [op for op in Migrate.upgrade_operators if op.strip()]
    finally:
        _reset_migrate_state()
        await Tortoise.close_connections()


async def check_drift() -> None:
    """Raise MigrationDriftError naming the changes when any dialect's migrations lag."""
    problems: list[str] = []
    for dialect in DIALECTS:
        problems += [f"[{dialect}] {change}" for change in await pending_changes(dialect)]
    if problems:
        raise MigrationDriftError(REGENERATE_HINT + ":\n" + "\n".join(problems))


def main(argv: list[str]) -> int:
    """Entry point of `python -m models.migrate apply|generate [NAME]|check`."""
    action = argv[0] if argv else "apply"
    if action == "apply":
        for applied in asyncio.run(apply_migrations()):
            print(f"applied {applied}")
    elif action == "generate":
        name = argv[1] if len(argv) > 1 else "update"
        for dialect in DIALECTS:
            # One dialect per event loop: aerich keeps per-run state on its classes.
            version = asyncio.run(generate_migration(dialect, name))
            print(f"{dialect}: {version or 'no changes'}")
    elif action == "check":
        try:
            asyncio.run(check_drift())
        except MigrationDriftError as exc:
            print(exc, file=sys.stderr)
            return 1
        print("migrations match the models")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
