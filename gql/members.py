"""Members of a fan-out room: each subscriber, and the groups that share one rendering."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, ExecutionResult, parse
from graphql.execution import execute_subscription_event
from starlette.websockets import WebSocket

from gql.context import Context
from gql.delivery import Delivery
from gql.sequencer import sequence_of
from gql.status_types import UploadEvent


class Ending(Enum):
    """How a member's time in a room ended."""

    DONE = "done"  # UPLOAD_DONE was sent: the subscription is complete
    FALLBACK = "fallback"  # continue on the ordinary path after `last`
    EXPIRED = "expired"  # the subscription's maximum lifetime is over
    GONE = "gone"  # the socket is closed


@dataclass(frozen=True)
class Outcome:
    """The ending and the sequence of the last event the member was sent."""

    ending: Ending
    last: int


@lru_cache(maxsize=256)
def document_of(query: str) -> DocumentNode:
    """The parsed query (parsed once per distinct text)."""
    return parse(query)


class Group:
    """Members sharing one operation, variables and base URL: rendered once per event."""

    def __init__(self, executor: Any, context: Context) -> None:
        self.executor = executor
        self.context = context
        self.rendered: tuple[int, str | None] = (-1, None)

    def render(self, payload: dict[str, Any]) -> str | None:
        """The "payload" JSON of a next message for this event; None if it errs here."""
        sequence = sequence_of(payload)
        if self.rendered[0] == sequence:
            return self.rendered[1]
        event = UploadEvent.from_payload(payload, self.context)
        result = execute_subscription_event(self.executor.build_per_event_executor(event))
        body = None
        if isinstance(result, ExecutionResult) and not result.errors:
            with contextlib.suppress(TypeError, ValueError):
                body = json.dumps({"data": result.data}, separators=(",", ":"))
        elif isinstance(result, Awaitable):  # never for UploadEvent's plain fields
            result.close()  # type: ignore[attr-defined]
        self.rendered = (sequence, body)
        return body


@dataclass(eq=False)
class Member:
    """One subscriber in a room."""

    websocket: WebSocket
    group: Group
    last: int
    head: str  # the next message up to its payload
    outcome: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @classmethod
    def of(cls, delivery: Delivery, group: Group, last: int) -> Member:
        head = f'{{"id":{json.dumps(delivery.operation_id)},"type":"next","payload":'
        return cls(delivery.websocket, group, last, head)

    async def send(self, payload: dict[str, Any]) -> bool:
        """Send one event; False when this member cannot be served here."""
        body = self.group.render(payload)
        if body is None:
            self.end(Ending.FALLBACK)
            return False
        try:
            await self.websocket.send_text(f"{self.head}{body}}}")
        except Exception:  # disconnected: the operation is being cleaned up
            self.end(Ending.GONE)
            return False
        self.last = sequence_of(payload)
        return True

    def end(self, ending: Ending) -> None:
        if not self.outcome.done():
            self.outcome.set_result(Outcome(ending, self.last))
