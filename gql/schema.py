"""The GraphQL schema with its hardening extensions; `python -m gql.schema` prints the SDL."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.datastructures import UploadFile
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from gql.cost import cost_limit
from gql.errors import MaskUnexpectedErrors, count_rejection, is_expected, rejection_code
from gql.mutations import Mutation
from gql.prepared import prepared_documents
from gql.queries import Query
from gql.subscriptions import Subscription
from settings import Settings, get_settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


# The multipart spec's "Upload", named `File` in pagemill's contract.
def _file_part(value: object) -> UploadFile:
    # Only the multipart request's file parts are files: a string or object sent in the
    # variable is the client's mistake, reported as an invalid variable.
    if not isinstance(value, UploadFile):
        raise ValueError("expected a file part of the multipart request (see its `map`)")
    return value


File = strawberry.scalar(
    name="File",
    description="A file part of a multipart request (GraphQL multipart request spec).",
    serialize=lambda v: v,
    parse_value=_file_part,
)


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Abuse limits run before execution; caches make repeated operations cheap."""
    # Factories, not instances: each operation gets fresh extension state (strawberry #4369).
    return [prepared_documents(settings.introspection), cost_limit(settings), MaskUnexpectedErrors]


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

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Queries and mutations: a subscription only streams (`subscribe`, `stream`)."""
        # strawberry's HTTP view allows subscriptions here when a request asks for no stream;
        # executed like a query, one fails inside. Refused, the view answers 406.
        allowed = set(allowed_operation_types or (OperationType.QUERY, OperationType.MUTATION))
        allowed.discard(OperationType.SUBSCRIPTION)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema, hardened per settings."""
    settings = settings or get_settings()
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides={UploadFile: File},
        extensions=extensions(settings),
        config=StrawberryConfig(batching_config={"max_operations": settings.max_batch_size}),
    )


schema = build_schema()


def sdl() -> str:
    """The schema as SDL, exactly as committed in schema.graphql."""
    return strawberry.printer.print_schema(schema).rstrip("\n") + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(sdl())
