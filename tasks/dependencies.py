"""Telling "a dependency is down" (PostgreSQL, Redis unreachable) from every other error, so
that clients get a typed 503 and workers put their documents back once it answers again."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

import asyncpg  # type: ignore[import-untyped]
import redis.exceptions
from tortoise import Tortoise

from tasks.engine.errors import STORAGE_FULL_MESSAGE, disk_full

UNAVAILABLE = (
    ConnectionError,  # refused, reset, aborted, broken pipe (tortoise's DBConnectionError)
    TimeoutError,
    socket.gaierror,
    asyncpg.PostgresConnectionError,  # the connection broke mid-query
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
    asyncpg.exceptions.TooManyConnectionsError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
NETWORK_ERRNOS = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT})
CLOSED_MARKERS = ("connection is closed", "connection was closed", "pool is closed")


SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
STORAGE_FULL = "STORAGE_FULL"
UNAVAILABLE_MESSAGE = "A service pagemill depends on is unavailable; try again shortly"


def failure_code(exc: BaseException) -> tuple[str, str] | None:
    """The typed code and client message of an infrastructure failure, None for others."""
    if is_unavailable(exc):
        return SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE
    if _caused_by(exc, disk_full):
        return STORAGE_FULL, STORAGE_FULL_MESSAGE
    return None


def _caused_by(exc: BaseException, test: Callable[[BaseException], bool]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if test(current):
            return True
        current = current.__cause__ or current.__context__
    return False


class DependencyDown(Exception):
    """A dependency the request needs does not answer; trying again later will work."""

    code = SERVICE_UNAVAILABLE

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)
        self.message = message


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised from, means a dependency is unreachable."""
    return _caused_by(exc, _unreachable)


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, (DependencyDown, *UNAVAILABLE)) or _network(exc):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and any(
        marker in str(exc) for marker in CLOSED_MARKERS
    )


def _network(exc: BaseException) -> bool:
    # asyncio reports failing to reach any of several addresses as a bare OSError.
    if not isinstance(exc, OSError):
        return False
    return exc.errno in NETWORK_ERRNOS or str(exc).startswith("Multiple exceptions: [Errno 111]")


async def database_answers() -> bool:
    """True when the database runs a trivial query."""
    try:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
    except Exception as exc:
        if is_unavailable(exc):
            return False
        raise
    return True
