"""Cross-origin access for browser apps on the origins of PAGEMILL_ALLOWED_ORIGINS.

HTTP (GraphQL, REST, downloads) goes through Starlette's CORSMiddleware; WebSocket
handshakes are checked by the GraphQL view against the same list, which names the refused
origin in its close reason.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from settings import Settings

# What GraphQL clients send: Apollo Client (its CSRF and client-awareness headers, the
# multipart Accept value, which is not CORS-safelisted), graphql-sse, and our own headers.
ALLOWED_HEADERS = [
    "Accept",
    "Authorization",
    "Content-Type",
    "Apollo-Require-Preflight",
    "X-Apollo-Operation-Name",
    "Apollographql-Client-Name",
    "Apollographql-Client-Version",
    "Idempotency-Key",
    "Last-Event-ID",
    "X-Request-Id",
]
EXPOSED_HEADERS = ["Content-Disposition", "Retry-After", "Allow", "X-Request-Id"]
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


def install(app: FastAPI, settings: Settings) -> None:
    """Answer preflights and add CORS headers for the allowed origins (none: no CORS).

    Call it after every other middleware is added: it must wrap them all, so that a refusal
    (401, 413, ...) still carries its CORS headers and the browser app can read it."""
    if not settings.allowed_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )


def refused_origin_reason(origin: str) -> str:
    """The close reason of a WebSocket refused for its origin (at most 123 bytes)."""
    shown = origin if len(origin) <= 48 else origin[:45] + "..."
    return f"Origin {shown} not allowed: list it in PAGEMILL_ALLOWED_ORIGINS"[:123]
