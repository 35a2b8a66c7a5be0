"""The executor strawberry runs operations with: plain leaf fields read straight off objects.

graphql-core completes every field alike: a path, a resolve-info tuple, strawberry's resolver
wrapper, then the leaf's output coercion. For a status query that is 100 fields, each ~10
Python calls, and the bulk of the request's CPU after the database (make bench). A leaf with
no resolver, no arguments and no middleware only reads an attribute, so here it is read and
coerced directly; anything else, or any leaf whose value is not plainly valid (a null for a
non-null type, a value the scalar refuses, a missing attribute), takes graphql-core's own
path, which reports the error exactly as it always does. Reading an attribute twice is
harmless: the fast read has no side effects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from graphql import GraphQLObjectType, GraphQLSchema, is_leaf_type, is_non_null_type
from graphql.execution.collect_fields import CollectedFields, FieldDetails, GroupedFieldSet
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

STRAWBERRY_FIELD = GraphQLCoreConverter.DEFINITION_BACKREF


class Leaf(NamedTuple):
    """How to read one plain leaf field: attribute, output coercion, nullability."""

    attribute: str | None  # None: __typename
    coerce: Callable[[Any], Any]
    non_null: bool


# Per response name: its field details, and the Leaf when the field is plain.
Plan = list[tuple[str, list[FieldDetails], Leaf | None]]


class PlainLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor with the fast path for plain leaf fields of sub-selections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Shared with per-event copies, like graphql-core's own memo of sub-selections.
        self._plans: dict[int, tuple[GroupedFieldSet, Plan]] = {}

    def collect_subfields(
        self, return_type: GraphQLObjectType, field_details_list: Sequence[FieldDetails]
    ) -> CollectedFields:
        collected = super().collect_subfields(return_type, field_details_list)  # type: ignore[arg-type]
        grouped = collected[0]
        middleware = self.middleware_manager  # strawberry passes one, empty without resolve hooks
        if id(grouped) not in self._plans and not (middleware and middleware.middlewares):
            self._plans[id(grouped)] = (grouped, self._plan(return_type, grouped))
        return collected

    def _plan(self, parent_type: GraphQLObjectType, grouped: GroupedFieldSet) -> Plan:
        return [
            (name, details, _leaf(self.schema, parent_type, node.name.value, bool(node.arguments)))
            for name, details in grouped.items()
            for node in (details[0].node,)
        ]

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        memo = self._plans.get(id(grouped_field_set))
        if memo is None or memo[0] is not grouped_field_set:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        pending: list[str] = []
        try:
            for name, details, leaf in memo[1]:
                if leaf is not None:
                    value = _read(leaf, parent_type, source_value)
                    if value is not Undefined:
                        results[name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    details,
                    Path(path, name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[name] = result
                    if self.is_awaitable(result):
                        pending.append(name)
        except Exception:
            if pending:  # as graphql-core does: the others may fail too, settle them
                self.settle_in_background([results[name] for name in pending])
            raise
        if not pending:
            return results
        return _gathered(results, pending)


async def _gathered(results: dict[str, Any], pending: list[str]) -> dict[str, Any]:
    """The results with the awaitable ones awaited, concurrently as graphql-core does."""
    if len(pending) == 1:
        results[pending[0]] = await results[pending[0]]
    else:
        awaited = await gather_with_cancel(*(results[name] for name in pending))
        results.update(zip(pending, awaited, strict=True))
    return results


@lru_cache(maxsize=4096)
def _leaf(
    schema: GraphQLSchema, parent_type: GraphQLObjectType, name: str, has_arguments: bool
) -> Leaf | None:
    """The Leaf of a field when it is plain: no resolver, arguments or object type."""
    if name == "__typename":
        return Leaf(None, str, True)
    field_def = schema.get_field(parent_type, name)
    if field_def is None or field_def.args or has_arguments:
        return None
    strawberry_field = (field_def.extensions or {}).get(STRAWBERRY_FIELD)
    if (
        strawberry_field is None
        or not getattr(field_def.resolve, "_is_default", False)
        or strawberry_field.default_resolver is not getattr
    ):
        return None
    non_null = is_non_null_type(field_def.type)
    inner = field_def.type.of_type if non_null else field_def.type  # type: ignore[union-attr]
    if not is_leaf_type(inner):
        return None
    return Leaf(strawberry_field.python_name, inner.coerce_output_value, non_null)


def _read(leaf: Leaf, parent_type: GraphQLObjectType, source: Any) -> Any:
    """The leaf's coerced value, or Undefined when graphql-core must decide."""
    if leaf.attribute is None:
        return parent_type.name
    try:
        value = getattr(source, leaf.attribute)
        if value is None:
            return Undefined if leaf.non_null else None
        coerced = leaf.coerce(value)
    except Exception:  # the ordinary path raises it again, located, as a field error
        return Undefined
    return Undefined if coerced is None else coerced
