"""The GraphQL schema with its hardening extensions; `python -m gql.schema` prints the SDL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import strawberry
from graphql import GraphQLError
from starlette.datastructures import UploadFile
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gql.errors import MaskUnexpectedErrors, count_rejection, is_expected, rejection_code
from gql.execution import PlainLeafExecutor
from gql.mutations import Mutation
from gql.prepared import prepared_documents
from gql.queries import Query
from gql.subscriptions import Subscription
from settings import Settings, get_settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"

# The multipart spec's "Upload", named `File` in pagemill's contract.
File = strawberry.scalar(
    name="File",
    description="A file part of a multipart request (GraphQL multipart request spec).",
    serialize=lambda v: v,
    parse_value=lambda v: v,
)


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Abuse limits run before execution; caches make repeated operations cheap."""
    # Factories, not instances: each operation gets fresh extension state (strawberry #4369).
    return [prepared_documents(settings.introspection), MaskUnexpectedErrors]


class Schema(strawberry.Schema):
    """Logs only unexpected errors: a client's bad id or oversized file is not news."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            code = rejection_code(error)
            if code is not None:
                count_rejection(code)
        super().process_errors([e for e in errors if not is_expected(e)], execution_context)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema, hardened per settings."""
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides={UploadFile: File},
        extensions=extensions(settings or get_settings()),
        execution_context_class=PlainLeafExecutor,
    )


schema = build_schema()


def sdl() -> str:
    """The schema as SDL, exactly as committed in schema.graphql."""
    return strawberry.printer.print_schema(schema).rstrip("\n") + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(sdl())
