"""Waiting on a condition with a deadline, the one way tests wait for something to happen."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, overload

T = TypeVar("T")

INTERVAL = 0.1


class HasLogs(Protocol):
    def log_tail(self) -> str: ...


def _timed_out(timeout: float, what: str, last: object, logs: HasLogs | None) -> AssertionError:
    detail = f"\n{logs.log_tail()}" if logs is not None else ""
    return AssertionError(
        f"timed out after {timeout:g}s waiting for {what} (last: {last!r}){detail}"
    )


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    timeout: float,
    what: str,
    logs: HasLogs | None = None,
    interval: float = INTERVAL,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    logs: HasLogs | None = None,
    interval: float = INTERVAL,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    logs: HasLogs | None = None,
    interval: float = INTERVAL,
) -> Any:
    """Call `check` (plain or async) until it returns something truthy and return that; fail
    after `timeout` seconds, with the process logs of `logs` when given."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, result, logs)
        await asyncio.sleep(interval)


def wait_until(check: Callable[[], T], timeout: float, what: str, logs: HasLogs | None = None) -> T:
    """`eventually` for code outside an event loop: polls a plain `check`, blocking."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, result, logs)
        time.sleep(INTERVAL)
