"""The REST face's OpenAPI document: FastAPI's, saying what the app does and what client
generators need (one problem schema by reference, binary files, the CSRF header)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gql.problems import MEDIA_TYPE, Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Declared, not enforced by FastAPI: X-Apollo-Operation-Name or a bearer token also do
# (gql.security checks them before the route runs).
PREFLIGHT_HEADER = {
    "name": "Apollo-Require-Preflight",
    "in": "header",
    "required": True,
    "description": "Any non-empty value (CSRF protection; X-Apollo-Operation-Name or a "
    "bearer token also do)",
    "schema": {"type": "string", "minLength": 1, "pattern": r"\S"},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Route `responses` for error statuses, each answered with a problem+json body."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
        }
        for status in statuses
    }


def build(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (cached on the app, as FastAPI's own)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        # Invalid requests are answered 400 with a problem (gql.problems), never FastAPI's 422.
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas["Problem"] = Problem.model_json_schema()
        app.openapi_schema = document
    return app.openapi_schema


def install(app: FastAPI) -> None:
    """Serve this document at /openapi.json."""
    app.openapi = lambda: build(app)  # type: ignore[method-assign]
