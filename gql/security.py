"""Request guards: allowed hosts, multipart CSRF rule, body size limits, optional bearer
tokens (HTTP header on /graphql, /api/, /files/ and the API docs; WebSocket header or
connection_init payload)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.errors import (
    BAD_USER_INPUT,
    CSRF_BLOCKED,
    PAYLOAD_TOO_LARGE,
    UNAUTHENTICATED,
    count_rejection,
    error_body,
)
from gql.hosts import host_refusal
from gql.principals import Principal, principal_of, tokens_enabled
from gql.problems import MEDIA_TYPE, REST_PREFIX, problem_body
from settings import Settings

GUARDED_PREFIXES = ("/graphql", "/api/", "/files/", "/docs", "/redoc", "/openapi.json")
# graphql-transport-ws "Unauthorized"; also used to refuse a handshake.
WS_UNAUTHORIZED = 4401
CSRF_HEADERS = (b"apollo-require-preflight", b"x-apollo-operation-name")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def request_principal(connection: HTTPConnection, settings: Settings) -> Principal | None:
    """The principal of a request's bearer token (anonymous when tokens are off)."""
    return principal_of(bearer_token(connection.headers.get("authorization")), settings)


def init_token(payload: object) -> str | None:
    """The token in a WebSocket connection_init payload: {"Authorization": "Bearer t"},
    {"authorization": ...}, {"headers": {"Authorization": ...}} or {"token": "t"}."""
    if not isinstance(payload, dict):
        return None
    headers = payload.get("headers")
    for source in (payload, headers if isinstance(headers, dict) else {}):
        for key, value in source.items():
            if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                return bearer_token(value)
    token = payload.get("token")
    return token if isinstance(token, str) and token else None


class BodyTooLarge(Exception):
    """Raised from `receive` once a request body passes the limit."""


class RequestGuard:
    """ASGI middleware for /graphql, /api/ and /files/: refuses before the body is parsed."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(
            GUARDED_PREFIXES
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, message, code = refusal
            count_rejection(code)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": WS_UNAUTHORIZED})
            else:
                await _refuse(scope, send, status, message, code)
            return
        if scope["type"] == "websocket":
            header = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
            if principal_of(header, self.settings) is None:
                await self._authenticated_websocket(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        await self._limited(scope, receive, send)

    async def _authenticated_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Browsers cannot set headers on a WebSocket: its first message, connection_init,
        must carry a valid token, or the socket is closed before anything else is read."""
        authorized = closed = False

        async def checked_receive() -> Message:
            nonlocal authorized, closed
            message = await receive()
            if authorized or message["type"] != "websocket.receive":
                return message
            raw = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
            try:
                init = json.loads(raw)
            except ValueError:
                init = None
            if (
                isinstance(init, dict)
                and init.get("type") == "connection_init"
                and principal_of(init_token(init.get("payload")), self.settings) is not None
            ):
                authorized = True
                return message
            count_rejection(UNAUTHENTICATED)
            closed = True
            await send({"type": "websocket.close", "code": WS_UNAUTHORIZED})
            return {"type": "websocket.disconnect", "code": WS_UNAUTHORIZED}

        async def guarded_send(message: Message) -> None:
            if not closed:  # nothing may follow our close (the app does not know of it)
                await send(message)

        await self.app(scope, checked_receive, guarded_send)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str, str] | None:
        bad_host = host_refusal(headers.get(b"host", b""), self.settings)
        if bad_host is not None:
            return 400, bad_host, BAD_USER_INPUT
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        authenticated = (
            tokens_enabled(self.settings) and principal_of(token, self.settings) is not None
        )
        is_ide_page = (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope.get("query_string")
            and scope["path"].startswith("/graphql")
        )
        # A WebSocket may authenticate in connection_init instead (_authenticated_websocket).
        needs_header = scope["type"] == "http" and not is_ide_page
        if tokens_enabled(self.settings) and not authenticated and needs_header:
            return 401, "A valid bearer token is required", UNAUTHENTICATED
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        preflighted = any(headers.get(name, b"").strip() for name in CSRF_HEADERS)
        if content_type == b"multipart/form-data" and not (authenticated or preflighted):
            return (
                400,
                "Multipart requests need a non-empty Apollo-Require-Preflight or "
                "X-Apollo-Operation-Name header (CSRF protection)",
                CSRF_BLOCKED,
            )
        length = headers.get(b"content-length")
        if (
            length is not None
            and length.isdigit()
            and int(length) > self.settings.max_request_bytes
        ):
            message = (
                f"Request body of {int(length)} bytes is over the limit of "
                f"{self.settings.max_request_bytes} bytes"
            )
            return 413, message, PAYLOAD_TOO_LARGE
        return None

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False
        limit = self.settings.max_request_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            count_rejection(PAYLOAD_TOO_LARGE)
            # The rest of the body is never read: the server drops the connection after this.
            message = (
                f"Request body has more than {limit} bytes, the limit "
                f"({received} received when it was cut off)"
            )
            await _refuse(scope, send, 413, message, PAYLOAD_TOO_LARGE)


async def _refuse(scope: Scope, send: Send, status: int, message: str, code: str) -> None:
    # The REST face answers in RFC 9457 problem details, GraphQL in its own error shape.
    if scope["path"].startswith(REST_PREFIX):
        await _send_json(send, status, problem_body(status, code, message), MEDIA_TYPE)
    else:
        await _send_json(send, status, error_body(message, code))


async def _send_json(
    send: Send, status: int, body: dict[str, Any], media_type: str = "application/json"
) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
