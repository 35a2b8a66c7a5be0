"""The private names pagemill borrows from its libraries (gql/internals.py, tasks/broker.py,
models/returning.py) are still there: an upgrade that moves one fails here, by name, not in
production."""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest
from graphql import GraphQLSchema
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.extensions import MaskErrors
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.info import Info
from taskiq_redis import RedisStreamBroker
from tortoise.models import Model
from tortoise.queryset import UpdateQuery

from gql.internals import WRITTEN_AGAINST, core_schema
from gql.schema import schema
from gql.view import GraphQLView
from models.upload import Page


def test_graphql_core_is_the_minor_version_the_executor_was_written_for() -> None:
    installed = importlib.metadata.version("graphql-core").split(".")[:2]
    assert installed == WRITTEN_AGAINST["graphql-core"].split(".")[:2], (
        "graphql-core changed minor version: check gql/internals.py"
    )


def test_strawberry_schema_still_holds_the_graphql_core_schema() -> None:
    assert isinstance(core_schema(schema), GraphQLSchema), "strawberry Schema._schema moved"


def test_strawberry_info_still_wraps_graphql_core_resolve_info() -> None:
    assert "_raw_info" in Info.__dataclass_fields__, "strawberry Info._raw_info moved"


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (MaskErrors, "_process_result"),
        (BaseGraphQLTransportWSHandler, "_get_pre_execution_close_reason"),
        (BaseGraphQLTransportWSHandler, "run_operation"),
        (RedisStreamBroker, "_ack_generator"),
        (RedisStreamBroker, "_declare_consumer_group"),
        (UpdateQuery, "_choose_db_if_not_chosen"),
        (UpdateQuery, "_make_query"),
        (Model, "_init_from_db"),
    ],
)
def test_overridden_private_methods_still_exist(owner: type, name: str) -> None:
    assert callable(getattr(owner, name, None)), f"{owner.__qualname__}.{name} is gone"


def test_the_websocket_adapter_still_keeps_the_starlette_websocket_as_ws() -> None:
    assert GraphQLView.websocket_adapter_class is ASGIWebSocketAdapter or issubclass(
        GraphQLView.websocket_adapter_class, ASGIWebSocketAdapter
    )
    assert "self.ws = " in inspect.getsource(ASGIWebSocketAdapter.__init__), (
        "strawberry's ASGIWebSocketAdapter no longer keeps the WebSocket as .ws"
    )
    assert issubclass(GraphQLView, GraphQL)


def test_tortoise_models_still_track_whether_they_are_saved() -> None:
    assert Page()._saved_in_db is False, "tortoise Model._saved_in_db moved"
