"""RFC 9457 problem details for the REST face, carrying the same codes as GraphQL errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from tortoise.exceptions import BaseORMException

from gql.errors import (
    BAD_USER_INPUT,
    CSRF_BLOCKED,
    FORBIDDEN,
    INTERNAL_SERVER_ERROR,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    RETRY_AFTER_SECONDS,
    STATUS_OF_FAILURE,
    STORAGE_UNAVAILABLE,
    UNAUTHENTICATED,
    ApiError,
)
from tasks.service.errors import failure_code

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
REST_PREFIX = "/api/"
NOT_READY = "NOT_READY"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
STATUS_OF = {
    BAD_USER_INPUT: 400,
    CSRF_BLOCKED: 400,
    UNAUTHENTICATED: 401,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    NOT_READY: 409,
    PAYLOAD_TOO_LARGE: 413,
    INTERNAL_SERVER_ERROR: 500,
    STORAGE_UNAVAILABLE: 503,
    **STATUS_OF_FAILURE,
}
# What a dependency that is down or a full disk raise (each handler checks which it was).
INFRASTRUCTURE_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    redis.exceptions.RedisError,
    BaseORMException,
)
CODE_OF_STATUS = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 413: PAYLOAD_TOO_LARGE}


class Problem(BaseModel):
    """An error: RFC 9457 members plus `code`, the same code GraphQL puts in extensions."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str


def problem_body(status: int, code: str, detail: str) -> dict[str, Any]:
    """The JSON body of a problem response."""
    return Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, code=code
    ).model_dump()


def problem(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A problem+json response."""
    return JSONResponse(
        problem_body(status, code, detail),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def problem_of(error: ApiError) -> Response:
    """The problem response of a typed API error."""
    return problem(STATUS_OF.get(error.code, 400), error.code, error.message)


def allowed_methods(request: Request, routes: Sequence[BaseRoute]) -> list[str]:
    """Every method one of `routes` serves at the request's path (Starlette's 405 names only
    the first route's, and GET and DELETE of one path are two routes)."""
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return sorted(methods)


def install(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Answer errors under /api/ (served by `routes`) with problem+json; other paths keep
    FastAPI's bodies."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)  # noqa: S101 (registered for ApiError only)
        return problem_of(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        if not request.url.path.startswith(REST_PREFIX):
            return await request_validation_exception_handler(request, exc)
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return problem(400, BAD_USER_INPUT, details or "Malformed request")

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101
        if not request.url.path.startswith(REST_PREFIX):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        code = CODE_OF_STATUS.get(exc.status_code, BAD_USER_INPUT)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request, routes))
        return problem(exc.status_code, code, str(exc.detail), headers=headers)

    async def on_infrastructure(request: Request, exc: Exception) -> Response:
        failure = failure_code(exc)
        if failure is None:
            raise exc  # a real bug: the server's 500, logged with its traceback
        code, message = failure
        status = STATUS_OF[code]
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
        logger.warning("%s on %s: %r", code, request.url.path, exc)
        if not request.url.path.startswith(REST_PREFIX):
            return JSONResponse({"detail": message, "code": code}, status, headers=headers)
        return problem(status, code, message, headers=headers)

    app.add_exception_handler(ApiError, on_api_error)
    for kind in INFRASTRUCTURE_ERRORS:
        app.add_exception_handler(kind, on_infrastructure)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
