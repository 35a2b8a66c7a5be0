"""Each distinct query is parsed and validated once, with the abuse limits applied.

One extension in place of strawberry's MaxTokensLimiter, QueryDepthLimiter,
MaxAliasesLimiter, ParserCache and ValidationCache: the same limits and caches, keyed by the
query's text (ValidationCache hashes the whole parsed document on every request) and with
one set of hooks per operation instead of five.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, parse, validate
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension

from gql.errors import GRAPHQL_VALIDATION_FAILED, QUERY_TOO_COMPLEX, with_code
from gql.internals import core_schema

MAX_DEPTH = 10
MAX_TOKENS = 4000
MAX_ALIASES = 30
CACHED_QUERIES = 256
Rules = tuple[type[ASTValidationRule], ...]

# Built once: each limiter makes a new rule class when constructed.
LIMIT_RULES: Rules = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
)


@lru_cache(maxsize=CACHED_QUERIES)
def parsed(query: str) -> DocumentNode:
    """The query's document; past MAX_TOKENS tokens a syntax error (not cached)."""
    return parse(query, max_tokens=MAX_TOKENS)


def prepared_documents(introspection: bool) -> Callable[[], SchemaExtension]:
    """The extension factory; without introspection, introspection queries fail validation."""
    extra = () if introspection else (NoSchemaIntrospectionCustomRule,)

    @lru_cache(maxsize=CACHED_QUERIES)
    def errors(schema: Any, query: str, rules: Rules) -> list[GraphQLError]:
        # Two passes (once per distinct query): which rule refused is the error's code.
        document = parsed(query)
        invalid = validate(schema, document, rules)
        limited = validate(schema, document, LIMIT_RULES)
        return [
            *(with_code(e, QUERY_TOO_COMPLEX) for e in limited),
            *(with_code(e, GRAPHQL_VALIDATION_FAILED) for e in invalid),
        ]

    class PreparedDocuments(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            try:
                context.graphql_document = parsed(context.query or "")
            except GraphQLSyntaxError:
                # Strawberry parses again and reports the error: raised from this hook it
                # would break a subscription's stream instead of answering it.
                context.parse_options["max_tokens"] = MAX_TOKENS
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            rules: Sequence[type[ASTValidationRule]] = context.validation_rules
            context.pre_execution_errors = errors(
                core_schema(context.schema), context.query or "", (*rules, *extra)
            )
            yield

    return PreparedDocuments
