"""The GraphQL endpoint at /graphql: strawberry's ASGI view, routed by the FastAPI app.

Not strawberry's GraphQLRouter: FastAPI resolves its six dependencies on every request,
which cost the status query ~15% of its requests/s (make bench). As plain routes the view
still runs inside the app, behind the same middleware (RequestGuard) and lifespan.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from cross_web import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestProtocol
from strawberry.http.base import BaseView
from strawberry.http.streaming import MultipartSubscriptionTransport
from strawberry.subscriptions import MULTIPART_SUBSCRIPTION_PROTOCOL
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from gql.context import Context
from gql.cors import refused_origin_reason
from gql.encoding import Encoded, encoded_off_loop
from gql.errors import (
    RETRY_AFTER_SECONDS,
    STATUS_OF_FAILURE,
    ApiError,
)
from gql.multipart import close_form, is_multipart, read_form
from gql.pages import page
from gql.pollcache import PollCache
from gql.principals import principal_of
from gql.problems import STATUS_OF
from gql.refusals import Refusal, check_batch, response
from gql.security import init_token
from gql.sockets import CheckedLegacyWSHandler, CheckedWSHandler
from settings import Settings


class MultipartTransport(MultipartSubscriptionTransport):
    """Apollo's multipart subscriptions, also answering a query or mutation sent with their
    Accept header (one part, then the end) where strawberry fails it as an internal error."""

    def allowed_operation_types(self, allowed: set[OperationType]) -> set[OperationType]:
        return allowed


class GraphQLView(GraphQL[Context, None]):
    """strawberry's ASGI GraphQL view with pagemill's context and fan-out handler."""

    graphql_transport_ws_handler_class = CheckedWSHandler
    graphql_ws_handler_class = CheckedLegacyWSHandler
    stream_transport_classes_by_protocol = {
        **BaseView.stream_transport_classes_by_protocol,
        MULTIPART_SUBSCRIPTION_PROTOCOL: MultipartTransport,
    }

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        context_getter: Callable[[HTTPConnection], Awaitable[Context]],
        settings: Settings,
        **options: Any,
    ) -> None:
        super().__init__(schema, **options)
        self._context_getter = context_getter
        self._settings = settings

    async def get_context(self, request: Any, response: Any) -> Context:
        return await self._context_getter(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return page("graphiql.html")

    async def on_ws_connect(self, context: Context) -> Any:
        # A browser's socket authenticates in connection_init (RequestGuard checked it).
        if context.principal is None:
            token = init_token(context.connection_params)
            context.principal = principal_of(token, context.settings)
        return await super().on_ws_connect(context)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """strawberry's run, with its plain-text refusals answered as typed JSON errors, and
        a multipart body read under the upload limits first (strawberry finds it parsed)."""
        try:
            if isinstance(request, Request) and is_multipart(request):
                await read_form(request, self._settings)
            return await super().run(request, context, root_value)
        except ApiError as error:
            return response(Refusal(STATUS_OF.get(error.code, 400), error.message, error.code))
        except HTTPException as error:
            return response(error)
        finally:
            if isinstance(request, Request):
                await close_form(request)  # the uploads' spools, stored or refused

    async def reject_websocket(self, request: WebSocket) -> WebSocket:
        """Refuses a handshake from an origin not allowed, saying why in the close reason."""
        # strawberry closes before accepting: the browser sees a bare 403 and code 1006. Accepted
        # (with the client's subprotocol, or browsers fail the handshake) then closed, the
        # client gets 1008 and the reason.
        await request.accept(subprotocol=await self.pick_websocket_subprotocol(request))
        reason = refused_origin_reason(request.headers.get("origin", ""))
        await request.close(code=1008, reason=reason)
        return request

    async def process_result(self, request: Any, result: Any) -> Any:
        return await encoded_off_loop(await super().process_result(request, result), self._encode)

    def encode_json(self, data: object) -> str | bytes:
        return data.body if isinstance(data, Encoded) else self._encode(data)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError:
            # JSON nested past Python's recursion limit: a client's malformed body (or
            # WebSocket message), refused like any other unparseable JSON.
            raise json.JSONDecodeError("JSON nested too deeply", "", 0) from None

    def _encode(self, data: object) -> str | bytes:
        return super().encode_json(data)

    def _validate_batch_request(
        self, request_data: list[Any], protocol: GraphQLRequestProtocol
    ) -> None:
        # strawberry's own check (it refuses batches on streaming transports), after the
        # size and shape checks with typed codes.
        config = self.schema.config.batching_config
        check_batch(request_data, config["max_operations"] if config else 1)
        super()._validate_batch_request(request_data, protocol)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        """The JSON response, with 503 or 507 when a dependency is down or the disk full."""
        status = failure_status(response_data)
        if status is not None:
            sub_response.status_code = status
            if status == 503:
                sub_response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return super().create_response(response_data, sub_response)


def failure_status(response_data: Any) -> int | None:
    """The HTTP status an infrastructure failure in a GraphQL result calls for, if any."""
    results = response_data if isinstance(response_data, list) else [response_data]
    for result in results:
        for error in result.get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            if code in STATUS_OF_FAILURE:
                return STATUS_OF_FAILURE[code]
    return None


def graphql_routes(view: GraphQLView, path: str = "/graphql") -> list[BaseRoute]:
    """HTTP (GET for GraphiQL and queries, POST; the view answers other methods with a
    typed 405) and WebSocket routes to the view."""
    return [Route(path, PollCache(view)), WebSocketRoute(path, view)]
