"""Typed GraphQL errors: every error a client should act on carries `extensions.code`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from prometheus_client import Counter
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from gql.internals import LeanMaskErrors
from tasks.service.errors import SERVICE_UNAVAILABLE, STORAGE_FULL, Rejected, failure_code

logger = logging.getLogger(__name__)

BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
CSRF_BLOCKED = "CSRF_BLOCKED"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
BAD_REQUEST = "BAD_REQUEST"  # a request the endpoint cannot run as sent
# Refusals of the HTTP exchange itself, before any GraphQL: a head or body too slow, a head
# too large.
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
# Codes of the refusals made by graphql-core and the abuse limits, which carry none: the
# conventional ones (Apollo Server's), one code for every complexity limit.
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
# Infrastructure failures a client should retry later: their HTTP status goes with them.
STATUS_OF_FAILURE = {SERVICE_UNAVAILABLE: 503, STORAGE_FULL: 507}
RETRY_AFTER_SECONDS = 5
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"

# strawberry's refusals of an operation as requested (its type over this method or transport,
# an unknown operation name); a streaming transport reports them inside the stream.
REQUEST_ERRORS = (CannotGetOperationTypeError, InvalidOperationTypeError)

REJECTIONS = Counter("pagemill_rejections", "Requests or operations refused, by code", ["code"])


class ApiError(Exception):
    """An error meant for the client; graphql-core copies `extensions` into the response."""

    code = INTERNAL_SERVER_ERROR

    def __init__(self, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.extensions: dict[str, Any] = {"code": self.code, **extra}


class BadUserInput(ApiError):
    code = BAD_USER_INPUT


class NotFound(ApiError):
    code = NOT_FOUND


class PayloadTooLarge(ApiError):
    code = PAYLOAD_TOO_LARGE


class StorageFailed(ApiError):
    code = STORAGE_UNAVAILABLE


class Forbidden(ApiError):
    code = FORBIDDEN


@contextmanager
def rejections() -> Iterator[None]:
    """Turns a service command's refusal into the typed API error of the same code."""
    try:
        yield
    except Rejected as exc:
        kind = {PAYLOAD_TOO_LARGE: PayloadTooLarge, STORAGE_UNAVAILABLE: StorageFailed}
        raise kind.get(exc.code, BadUserInput)(exc.message) from None


SHOWN = 64  # characters of a client's value echoed back in a message


def shown(value: object) -> str:
    """A client's value as messages quote it: repr, cut to SHOWN characters."""
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}... ({len(str(value))} characters)"


def error_body(message: str, code: str) -> dict[str, Any]:
    """A GraphQL response body carrying one typed error (for refusals outside execution)."""
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


def count_rejection(code: str) -> None:
    """Counts one refused request or operation under its error code."""
    REJECTIONS.labels(code=code).inc()


def code_of(error: GraphQLError) -> str | None:
    """The code an error carries in `extensions.code`, if any."""
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def with_code(error: GraphQLError, code: str) -> GraphQLError:
    """The error, carrying `code` in its extensions unless it already has one."""
    if code_of(error) is None:
        error.extensions = {**(error.extensions or {}), "code": code}
    return error


def rejection_code(error: GraphQLError) -> str | None:
    """The code an expected GraphQL error is sent and counted under (None for unexpected
    ones), set in its extensions if it had none."""
    if not is_expected(error):
        return None
    return code_of(with_code(error, _untyped_code(error)))


def _untyped_code(error: GraphQLError) -> str:
    if isinstance(error, GraphQLSyntaxError):
        # graphql-core's own parser limits (tokens, nesting) end so; nothing else marks them.
        limit = error.message.endswith("Parsing aborted.")
        return QUERY_TOO_COMPLEX if limit else GRAPHQL_PARSE_FAILED
    if isinstance(error.original_error, REQUEST_ERRORS):
        return BAD_REQUEST
    # Validation errors are typed by the rules that made them (gql.prepared): what is left
    # is graphql-core refusing the variables.
    return BAD_USER_INPUT


def is_expected(error: GraphQLError) -> bool:
    """True for errors clients may see as they are: typed, syntax or validation errors."""
    original = error.original_error
    if original is None:
        return True  # parse and validation errors (including the abuse limits)
    return isinstance(original, (ApiError, GraphQLError, *REQUEST_ERRORS))


class MaskUnexpectedErrors(LeanMaskErrors):
    """Masks only unexpected exceptions (PITFALLS: MaskErrors masks validation errors too)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not is_expected(e), error_message="")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        failure = failure_code(error.original_error) if error.original_error else None
        if failure is not None:
            # A dependency down or the disk full: typed (503, 507), the detail only logged.
            code, message = failure
            logger.warning("%s in %s (request %s): %r", code, error.path, request_id,
                           error.original_error)  # fmt: skip
            count_rejection(code)
            return GraphQLError(
                message=message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": code, "requestId": request_id},
            )
        logger.error(
            "unexpected error in %s (request %s): %s",
            error.path,
            request_id,
            error.message,
            exc_info=error.original_error,
        )
        return GraphQLError(
            message=f"Internal server error (request {request_id})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": INTERNAL_SERVER_ERROR, "requestId": request_id},
        )
