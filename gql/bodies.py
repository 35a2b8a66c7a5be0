"""Request bodies that come too slowly, or not at all.

A body must arrive within `body_timeout` seconds plus one second per `body_min_rate` bytes
received (Apache mod_reqtimeout's `body=...,MinRate=...` rule): an idle or trickling client
is answered 408 and its connection closed, while a large upload on a slow but honest link
keeps earning time. A client that hangs up mid-body ends its request quietly: one log line,
not the traceback uvicorn prints for an exception out of the app.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.errors import REQUEST_TIMEOUT, count_rejection, error_body
from settings import Settings

logger = logging.getLogger(__name__)
BODY_METHODS = ("POST", "PUT", "PATCH")


class BodyTimedOut(Exception):
    """The body fell behind its deadline."""


class BodyDeadline:
    """ASGI middleware enforcing the body deadline and quieting client disconnects."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.seconds = settings.body_timeout
        self.rate = settings.body_min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        done = started = answered = False

        async def timed_receive() -> Message:
            nonlocal deadline, done, answered
            if done:  # the body is in: what follows is the wait for a disconnect
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                count_rejection(REQUEST_TIMEOUT)
                logger.info("request body from %s too slow: 408", scope.get("client"))
                if not started:
                    # Answered here: FastAPI turns any error reading a form into its own 400.
                    answered = True
                    await _timed_out(send, self.seconds, self.rate)
                raise BodyTimedOut from None
            deadline += len(message.get("body", b"")) / self.rate
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the app's own answer to the error it saw: the 408 went first
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except BodyTimedOut:
            pass
        except ClientDisconnect:
            logger.info("client %s hung up before its request body ended", scope.get("client"))


async def _timed_out(send: Send, seconds: float, rate: int) -> None:
    message = (
        f"Request body too slow: it must arrive within {seconds:g} s plus 1 s per {rate} bytes"
    )
    payload = json.dumps(error_body(message, REQUEST_TIMEOUT)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
