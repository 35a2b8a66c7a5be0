"""The WebSocket protocols' handlers, refusing a malformed subscribe (or legacy start)
payload with a typed error: strawberry takes its members as they come, and a `query` of 5
failed deep in parsing, a server error that ended the operation without a word."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage

from gql.errors import BAD_REQUEST, count_rejection
from gql.internals import TransportWSHandler
from gql.refusals import subscribe_problem


class CheckedWSHandler(TransportWSHandler):
    """graphql-transport-ws: a malformed payload gets the protocol's `error` message."""

    async def handle_subscribe(self, message: Any) -> None:
        problem = subscribe_problem(message.get("payload"))
        if problem is None:
            await super().handle_subscribe(message)
            return
        count_rejection(BAD_REQUEST)
        error = GraphQLError(problem, extensions={"code": BAD_REQUEST})
        await self.send_message(
            {"id": message["id"], "type": "error", "payload": [error.formatted]}
        )


class CheckedLegacyWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """The legacy graphql-ws: a malformed start payload gets its `error` message."""

    async def handle_start(self, message: Any) -> None:
        problem = subscribe_problem(message.get("payload"))
        if problem is None:
            await super().handle_start(message)
            return
        count_rejection(BAD_REQUEST)
        error = GraphQLError(problem, extensions={"code": BAD_REQUEST})
        await self.send_message(
            ErrorMessage(type="error", id=message["id"], payload=error.formatted)
        )
