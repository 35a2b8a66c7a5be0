"""`python -m gql.openapi_export` prints the REST face's OpenAPI document (openapi.json)."""

from __future__ import annotations

import json
from typing import Any

from gql.app import create_app
from settings import Settings


def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document, as served."""
    return create_app(Settings()).openapi()


if __name__ == "__main__":
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))  # noqa: T201
