"""Every private name of strawberry and graphql-core that pagemill relies on, in one place.

Written against strawberry-graphql 0.341.2 and graphql-core 3.3.2 (pyproject.toml pins
graphql-core to 3.3.x). tests/test_internals.py fails, naming the name, when an upgrade
moves any of them; fix this module, and only it.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, GraphQLSyntaxError
from starlette.websockets import WebSocket
from strawberry.extensions import MaskErrors
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import Info

from gql.delivery import DELIVERY, Delivery

WRITTEN_AGAINST = {"strawberry-graphql": "0.341.2", "graphql-core": "3.3.2"}


def core_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema strawberry executes on (`Schema._schema`)."""
    core: GraphQLSchema = schema._schema
    return core


def raw_info(info: Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's resolve info behind strawberry's Info (`Info._raw_info`)."""
    raw: GraphQLResolveInfo[Any] = info._raw_info
    return raw


class LeanMaskErrors(MaskErrors):
    """MaskErrors that skips results without errors (`MaskErrors._process_result`)."""

    def _process_result(self, result: object) -> None:
        # Called for every subscription event: skip MaskErrors' isinstance check against a
        # runtime Protocol (slow) for the usual result without errors.
        if getattr(result, "errors", None):
            super()._process_result(result)


class FanOutWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws, telling the operation's resolvers where its messages go (the
    adapter's `ws`, the Starlette WebSocket under strawberry's)."""

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        websocket = getattr(self.websocket, "ws", None)
        if isinstance(websocket, WebSocket) and isinstance(operation.query, str):
            DELIVERY.set(
                Delivery(
                    self.schema,  # type: ignore[arg-type]
                    websocket,
                    operation.id,
                    operation.query,
                    operation.variables,
                    operation.operation_name,
                )
            )
        await super().run_operation(operation)


class TransportWSHandler(FanOutWSHandler):
    """graphql-transport-ws answering a syntax error as the protocol's `error` message, with
    its code, like any other refusal; strawberry closes the whole socket (4400) instead,
    ending every other subscription the client runs on it
    (`_get_pre_execution_close_reason`)."""

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        if isinstance(error, GraphQLSyntaxError):
            return None
        return FanOutWSHandler._get_pre_execution_close_reason(error)
