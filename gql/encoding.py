"""Large GraphQL answers are serialised off the event loop.

json.dumps of an 18.7 MB answer holds the loop for a quarter of a second, during which no
other request (not even /healthz) is served. Past BIG_NODES values, counted with an early
stop so small answers cost a few microseconds, the JSON is made in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

BIG_NODES = 10_000


class Encoded(dict[str, Any]):
    """An answer whose JSON is already made (`body`)."""

    body: str | bytes = b""


def larger_than(data: object, limit: int = BIG_NODES) -> bool:
    """Whether the JSON value holds more than `limit` values (stops counting there)."""
    stack = [data]
    seen = 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


async def encoded_off_loop(data: Any, encode: Callable[[object], str | bytes]) -> Any:
    """`data`, as an Encoded answer when it is large enough to encode in a thread."""
    if not larger_than(data):
        return data
    answer = Encoded(data)
    answer.body = await asyncio.to_thread(encode, data)
    return answer
