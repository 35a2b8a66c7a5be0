"""Request guards: multipart CSRF rule, body size limits, optional bearer tokens."""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.errors import CSRF_BLOCKED, PAYLOAD_TOO_LARGE, UNAUTHENTICATED, error_body
from gql.problems import MEDIA_TYPE, REST_PREFIX, problem_body
from settings import Settings

GUARDED_PREFIXES = ("/graphql", "/api/")
CSRF_HEADERS = (b"apollo-require-preflight", b"x-apollo-operation-name")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _matches(token: str, candidates: list[str]) -> bool:
    # Compare against every candidate so timing does not reveal which one matched.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def token_roles(token: str | None, settings: Settings) -> set[str]:
    """The roles a token grants: "api" and/or "admin" (admin tokens are also api tokens)."""
    if token is None:
        return set()
    roles = set()
    if _matches(token, settings.admin_tokens):
        roles |= {"admin", "api"}
    if _matches(token, settings.api_tokens):
        roles.add("api")
    return roles


def tokens_enabled(settings: Settings) -> bool:
    """True when the API requires bearer tokens."""
    return bool(settings.api_tokens or settings.admin_tokens)


class BodyTooLarge(Exception):
    """Raised from `receive` once a request body passes the limit."""


class RequestGuard:
    """ASGI middleware for /graphql and /api/: refuses before the body is parsed."""

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
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401})
            else:
                await _refuse(scope, send, status, message, code)
            return
        if scope["type"] == "websocket" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        await self._limited(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str, str] | None:
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        authenticated = bool(token_roles(token, self.settings))
        is_ide_page = (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope.get("query_string")
            and not scope["path"].startswith(REST_PREFIX)
        )
        if tokens_enabled(self.settings) and not authenticated and not is_ide_page:
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
            return 413, _too_large(self.settings), PAYLOAD_TOO_LARGE
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
            await _refuse(scope, send, 413, _too_large(self.settings), PAYLOAD_TOO_LARGE)


def _too_large(settings: Settings) -> str:
    return f"Request body over the limit of {settings.max_request_bytes} bytes"


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
