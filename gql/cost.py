"""The most a query can cost, computed from its text and variables before it runs.

Depth, token and alias limits let through a 1.2 KB query of 30 aliased
`uploads(first: 100) { edges { node { documents { pages { url } } } } }` that built an
18.7 MB answer with 7 s of CPU on the event loop. Here every selected field costs 1, times
the most items each list above it can hold: `first`/`last` for a connection, the upload
limits for lists the data bounds (files per upload, pages per document). Past
PAGEMILL_MAX_QUERY_COST the operation is refused before execution (QUERY_TOO_COMPLEX).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from gql.errors import QUERY_TOO_COMPLEX
from gql.pagination import MAX_PAGE_SIZE
from gql.prepared import parsed
from settings import Settings

# The cost of the operation the current task runs (read by the view to decide where to
# serialise the answer).
CURRENT_COST: ContextVar[int] = ContextVar("query_cost", default=0)
PAGE_ARGUMENTS = ("first", "last")


def list_bounds(settings: Settings) -> dict[tuple[str, str], int]:
    """The most items a list field can hold, by (type, field); others: MAX_PAGE_SIZE."""
    return {("Upload", "documents"): settings.max_files, ("Document", "pages"): settings.max_pages}


class Walk:
    """One operation's cost: fields times the bounds of the lists above them."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        bounds: Mapping[tuple[str, str], int],
    ) -> None:
        self.schema, self.fragments, self.variables, self.bounds = (
            schema,
            fragments,
            variables,
            bounds,
        )

    def cost(self, type_name: str, selections: SelectionSetNode | None, page: int) -> int:
        """Cost of one object of `type_name` with this selection; `page` sizes lists of a
        connection (its `first`/`last`)."""
        total = 0
        for node, parent in self._fields(type_name, selections, set()):
            total += self._field(parent, node, page)
        return total

    def _fields(
        self, type_name: str, selections: SelectionSetNode | None, seen: set[str]
    ) -> Iterator[tuple[FieldNode, str]]:
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                yield selection, type_name
            elif isinstance(selection, InlineFragmentNode):
                inner = selection.type_condition.name.value if selection.type_condition else None
                yield from self._fields(inner or type_name, selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    seen.add(selection.name.value)  # a cycle is a validation error anyway
                    condition = fragment.type_condition.name.value
                    yield from self._fields(condition, fragment.selection_set, seen)

    def _field(self, parent: str, node: FieldNode, page: int) -> int:
        parent_type = self.schema.get_type(parent)
        fields = getattr(parent_type, "fields", {})
        definition = fields.get(node.name.value)
        if definition is None:  # __typename, or a field validation refuses anyway
            return 1
        size = self._page_size(node, definition)
        inner = get_named_type(definition.type)
        if not node.selection_set:
            return 1
        items = 1
        if is_list_type(get_nullable_type(definition.type)):
            items = self.bounds.get((parent, node.name.value), page)
        below = size if size is not None else page
        return 1 + items * self.cost(inner.name, node.selection_set, below)

    def _page_size(self, node: FieldNode, definition: Any) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value in PAGE_ARGUMENTS:
                value = self._value(argument.value)
                if value is not None:
                    return min(value, MAX_PAGE_SIZE)
        for name in PAGE_ARGUMENTS:
            default = getattr(definition.args.get(name), "default_value", None)
            if isinstance(default, int):
                return min(default, MAX_PAGE_SIZE)
        return None

    def _value(self, value: Any) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            found = self.variables.get(value.name.value)
            return found if isinstance(found, int) else None
        return None


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    bounds: Mapping[tuple[str, str], int],
) -> int:
    """The operation's cost (see the module docstring)."""
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return Walk(schema, fragments, variables, bounds).cost(
        root.name, operation.selection_set, MAX_PAGE_SIZE
    )


def cost_limit(settings: Settings) -> type[SchemaExtension]:
    """The extension refusing operations over settings.max_query_cost; it runs after the
    one that parses and validates (gql.prepared), and only on valid operations."""
    bounds = list_bounds(settings)
    limit = settings.max_query_cost

    @lru_cache(maxsize=256)
    def cached(schema: GraphQLSchema, query: str, name: str | None, ints: tuple[Any, ...]) -> int:
        document = parsed(query)
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = [op for op in operations if name is None or (op.name and op.name.value == name)]
        if len(chosen) != 1:
            return 0  # graphql-core refuses the request itself
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return operation_cost(schema, chosen[0], fragments, dict(ints), bounds)

    class QueryCost(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            if not context.pre_execution_errors and context.query:
                variables = context.variables or {}
                ints = tuple(sorted((k, v) for k, v in variables.items() if type(v) is int))
                cost = cached(context.schema._schema, context.query, context.operation_name, ints)
                CURRENT_COST.set(cost)
                if cost > limit:
                    message = (
                        f"Query cost {cost} is over the limit of {limit} (every field counts "
                        "1, times the most items of each list above it: `first`/`last`, files "
                        "per upload, pages per document)"
                    )
                    error = GraphQLError(message, extensions={"code": QUERY_TOO_COMPLEX})
                    context.pre_execution_errors = [error]
            yield

    return QueryCost
