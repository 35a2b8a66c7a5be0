"""Why a command could not use the server, in one line that names the URL it tried."""

from __future__ import annotations

import httpx
from websockets.exceptions import InvalidStatus, WebSocketException

from client.graphql import ClientError


def explain(url: str, error: Exception) -> str:
    """The URL and the reason, e.g. "cannot connect to http://h:1/graphql: Connection refused"."""
    if isinstance(error, ClientError):
        return f"{url}: {error}"
    if isinstance(error, httpx.HTTPStatusError):
        response = error.response
        return (
            f"{response.url} answered {response.status_code} {response.reason_phrase}"
            " (is it the GraphQL endpoint of a pagemill server?)"
        )
    if isinstance(error, httpx.TimeoutException):
        return f"no answer from {url} in time ({type(error).__name__})"
    if isinstance(error, InvalidStatus):
        return f"{url} refused the WebSocket: HTTP {error.response.status_code}"
    if isinstance(error, httpx.HTTPError | WebSocketException | OSError):
        return f"cannot connect to {url}: {_reason(error)}"
    return f"{url}: {error}"


def _reason(error: Exception) -> str:
    # httpx wraps the socket's error; its text ("[Errno 111] Connection refused") says why.
    cause = error.__cause__ or error.__context__
    text = str(error) or str(cause or "") or type(error).__name__
    return text.removeprefix("[Errno 111] ").removeprefix("[Errno -2] ")
