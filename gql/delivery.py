"""Where the messages of a graphql-transport-ws operation go: set by the WebSocket handler
(gql/internals.py) for the task that runs the operation, read by the fan-out room it joins."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import strawberry
from starlette.websockets import WebSocket


@dataclass(frozen=True)
class Delivery:
    """Where the messages of one graphql-transport-ws operation go."""

    schema: strawberry.Schema
    websocket: WebSocket
    operation_id: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


# Set by the WebSocket handler for the task that runs one operation.
DELIVERY: ContextVar[Delivery | None] = ContextVar("pagemill_delivery", default=None)


def current_delivery() -> Delivery | None:
    """The WebSocket delivery of the running operation, if it has one."""
    return DELIVERY.get()
