"""How uvicorn serves the API: its httptools protocol with a cap on a request's head and a
deadline for it, and the options `pagemill serve` passes.

uvicorn has no limit on header size with httptools (only h11 has one, answered with a
plain 400; uvicorn #157, httptools #87) and no deadline before a request's headers are
complete: five sockets sending 40 MB headers grew the API by 200 MB, and a socket sending a
header byte a second was held forever. The head is counted as it arrives, so no more than
one socket read (256 KiB) past the cap is ever buffered, then refused with 431.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gql.errors import HEADERS_TOO_LARGE, REQUEST_TIMEOUT, count_rejection, error_body
from settings import Settings

logger = logging.getLogger(__name__)
REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def refusal(status: int, message: str, code: str) -> bytes:
    """A whole HTTP response refusing a request, with a typed GraphQL error body."""
    body = json.dumps(error_body(message, code)).encode()
    head = [
        b"HTTP/1.1 %d %s" % (status, REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol refusing a head over `max_head` bytes (431) or one not
    complete within `head_seconds` of its first byte, or of an idle connection (408)."""

    max_head = 32 * 1024
    head_seconds = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # from a request's first byte until its headers are complete
        self._head_bytes = 0  # of the current head, in the reads after the one it began in
        self._began_here = False
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head and not self._refused:
            # The read a head began in may hold the end of the previous request too: it is
            # not counted, so a head can pass the cap by at most one read before refusal.
            if not self._began_here:
                self._head_bytes += len(data)
            self._began_here = False
            if self._head_bytes > self.max_head:
                self._refuse(431, f"Request headers over {self.max_head} bytes", HEADERS_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._began_here = True, 0, True
        if self._head_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head:
            self._refuse(431, f"Request headers over {self.max_head} bytes", HEADERS_TOO_LARGE)
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._in_head:
            if self.cycle is None:
                self.transport.close()  # connected, never sent a byte: nothing to answer
            return
        message = f"Request headers not complete within {self.head_seconds:g} s"
        self._refuse(408, message, REQUEST_TIMEOUT)

    def _refuse(self, status: int, message: str, code: str) -> None:
        self._refused = True
        self._disarm()
        count_rejection(code)
        logger.info("refused a request from %s: %s", self.client, message)
        if not self.transport.is_closing():
            self.transport.write(refusal(status, message, code))
            self.transport.close()


def protocol_class(settings: Settings) -> type[GuardedHttpTools]:
    """The protocol class with the settings' head limits."""
    return type(
        "GuardedHttpTools",
        (GuardedHttpTools,),
        {"max_head": settings.max_header_bytes, "head_seconds": settings.header_timeout},
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `pagemill serve` hands uvicorn besides the app, host and port."""
    return {
        "http": protocol_class(settings),
        # Past this many open connections (WebSockets included) or running requests, uvicorn
        # answers 503 at once instead of taking on more than the process can serve.
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout,
    }
