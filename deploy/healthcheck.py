"""Container health checks: `api` (GET /healthz), `worker` (fresh heartbeat), `migrated`."""

from __future__ import annotations

import asyncio
import socket
import sys
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from settings import get_settings

TIMEOUT = 10.0  # seconds; a database that cannot be reached must not hang the check


def api_ok() -> bool:
    """The API in this container answers /healthz."""
    url = f"http://127.0.0.1:{get_settings().port}/healthz"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 (fixed local URL)
        return bool(response.status == 200)


async def worker_ok() -> bool:
    """A worker process of this container wrote a heartbeat within one lease."""
    from models.db import close_db, init_db
    from models.upload import WorkerState

    settings = get_settings()
    since = datetime.now(UTC) - timedelta(seconds=settings.lease_seconds)
    await init_db()
    try:
        query = WorkerState.filter(host=socket.gethostname(), heartbeat_at__gte=since)
        return await query.exists()
    finally:
        await close_db()


async def migrated_ok() -> bool:
    """Every migration of the database's dialect has been applied."""
    from aerich import Command

    from models.db import tortoise_config
    from models.migrate import APP, dialect_of, location_for

    url = get_settings().db_url
    command = Command(tortoise_config(url), app=APP, location=str(location_for(dialect_of(url))))
    async with command:
        pending: list[str] = await command.heads()
    return not pending


def main(role: str) -> int:
    """Exit 0 when the role is healthy."""
    checks: dict[str, Callable[[], bool]] = {
        "api": api_ok,
        "worker": lambda: asyncio.run(asyncio.wait_for(worker_ok(), TIMEOUT)),
        "migrated": lambda: asyncio.run(asyncio.wait_for(migrated_ok(), TIMEOUT)),
    }
    try:
        healthy = checks[role]()
    except Exception as exc:  # any failure to check is unhealthy, with the reason
        print(f"{role}: {exc!r}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "api"))
