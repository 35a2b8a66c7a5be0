"""Requests the GraphQL view refuses before executing anything, answered as typed errors.

strawberry answers these with `text/plain` bodies; clients get the GraphQL error shape with an
`extensions.code` instead, counted in /metrics like every other refusal.
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from starlette.responses import JSONResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from gql.errors import BAD_REQUEST, NOT_FOUND, count_rejection, error_body

BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
STREAMING_REQUIRED = "STREAMING_REQUIRED"
CODES = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
STREAMING_ACCEPT = (
    "A subscription over HTTP needs a streaming response: send it with "
    "`Accept: multipart/mixed;subscriptionSpec=1.0` (multipart subscriptions) or "
    "`Accept: text/event-stream` (GraphQL over SSE), or over a WebSocket"
)


class Refusal(HTTPException):
    """An HTTP refusal with its error code."""

    def __init__(self, status_code: int, reason: str, code: str) -> None:
        super().__init__(status_code, reason)
        self.code = code


def typed(error: HTTPException) -> Refusal:
    """The refusal as the client should see it: a subscription sent without a streaming
    Accept header is 406 Not Acceptable, saying which headers stream."""
    if isinstance(error, Refusal):
        return error
    cause = error.__cause__
    if (
        isinstance(cause, InvalidOperationTypeError)
        and cause.operation_type is OperationType.SUBSCRIPTION
    ):
        return Refusal(406, STREAMING_ACCEPT, STREAMING_REQUIRED)
    return Refusal(error.status_code, error.reason, CODES.get(error.status_code, BAD_REQUEST))


def response(error: HTTPException) -> JSONResponse:
    """The typed JSON answer to a refused request, counted by its code."""
    refusal = typed(error)
    count_rejection(refusal.code)
    headers = {"Allow": "GET, POST"} if refusal.status_code == 405 else None
    body = error_body(refusal.reason, refusal.code)
    return JSONResponse(body, status_code=refusal.status_code, headers=headers)


def check_batch(operations: list[Any], limit: int) -> None:
    """Refuses an empty batch, one over `limit` operations, or one with a non-object item."""
    if not operations:
        raise Refusal(400, "The batch holds no operation", BAD_REQUEST)
    if len(operations) > limit:
        message = f"The batch holds {len(operations)} operations, over the limit of {limit}"
        raise Refusal(400, message, BATCH_TOO_LARGE)
    if not all(isinstance(operation, dict) for operation in operations):
        raise Refusal(400, "Every operation of a batch must be a JSON object", BAD_REQUEST)


def subscribe_problem(payload: object) -> str | None:
    """What is wrong with a WebSocket `subscribe` payload's shape; None when it is sound."""
    if not isinstance(payload, dict):
        return "The subscribe message's payload must be an object"
    expected = {"query": str, "variables": dict, "operationName": str, "extensions": dict}
    for name, kind in expected.items():
        value = payload.get(name)
        if (value is None and name != "query") or isinstance(value, kind):
            continue
        return f"The subscribe payload's `{name}` must be a {'string' if kind is str else 'object'}"
    return None
