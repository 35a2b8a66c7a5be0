"""Tortoise configuration (also read by aerich) and database start/stop."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url

from settings import get_settings

MODEL_MODULES = ["models.upload", "aerich.models"]


async def _keep_session(connection: object) -> None:
    """asyncpg's pool otherwise sends RESET ALL, UNLISTEN *, CLOSE ALL and unlocks advisory
    locks each time it takes a connection back: one more round trip per query made outside a
    transaction. pagemill sets no session state, listens to nothing and takes no advisory
    locks; a transaction left open is still rolled back by the pool itself."""


def _connection(url: str) -> str | dict[str, Any]:
    if not url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return url
    config = expand_db_url(url)
    config["credentials"]["reset"] = _keep_session
    return config


def tortoise_config(db_url: str | None = None) -> dict[str, Any]:
    """The Tortoise config dict for the given URL (default: from settings)."""
    url = db_url or get_settings().db_url
    return {
        "connections": {"default": _connection(url)},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


TORTOISE_ORM = tortoise_config()


async def init_db(db_url: str | None = None) -> None:
    """Open the database connections of this process."""
    settings = get_settings()
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    await Tortoise.init(config=tortoise_config(db_url))


async def close_db() -> None:
    """Close the database connections of this process."""
    await Tortoise.close_connections()
