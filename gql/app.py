"""The ASGI application: FastAPI with the GraphQL router, downloads, health and metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from tortoise.contrib.fastapi import RegisterTortoise

from gql import cors, openapi, pages, problems, rest
from gql.bodies import BodyDeadline
from gql.context import make_context_getter
from gql.files import build_router
from gql.schema import build_schema
from gql.security import RequestGuard
from gql.view import GraphQLView, graphql_routes
from models.db import tortoise_config
from settings import Settings, get_settings
from tasks.bus import close_bus
from tasks.runtime.tasks import broker  # the embedded mode runs the worker's tasks here
from tasks.storage import open_storage

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> FastAPI:
    """The pagemill API; `manage_db=False` when the caller already initialised Tortoise."""
    settings = settings or get_settings()
    storage = open_storage(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            storage.scratch.mkdir(parents=True, exist_ok=True)
            if manage_db:
                # Global fallback: uvicorn serves requests in tasks other than the lifespan's.
                await stack.enter_async_context(
                    RegisterTortoise(app, config=tortoise_config(settings.db_url))
                )
            if not broker.is_worker_process:
                await broker.startup()
                stack.push_async_callback(broker.shutdown)
            stack.push_async_callback(close_bus, settings)
            where = settings.storage_url or storage.scratch
            logger.info("pagemill API ready, storage at %s", where)
            yield

    app = FastAPI(title="pagemill", lifespan=lifespan, docs_url=None, redoc_url=None)
    graphql = GraphQLView(
        build_schema(settings),
        graphql_ide="graphiql" if settings.graphiql else None,
        context_getter=make_context_getter(settings, storage),
        settings=settings,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            MULTIPART_SUBSCRIPTION_PROTOCOL,  # Accept: multipart/mixed;subscriptionSpec=1.0
            GRAPHQL_SSE_PROTOCOL,  # Accept: text/event-stream
        ),
        multipart_uploads_enabled=True,
        allowed_origins=settings.allowed_origins,
    )
    # First: every request is matched against the routes in order, and most are GraphQL.
    app.router.routes[0:0] = graphql_routes(graphql)
    app.include_router(build_router(settings, storage))
    api = rest.build_router(settings, storage)
    app.include_router(api)
    pages.install(app)
    problems.install(app, api.routes)
    openapi.install(app)
    app.add_middleware(RequestGuard, settings=settings)
    # Outermost but for CORS: the deadline covers the body whoever reads it.
    app.add_middleware(BodyDeadline, settings=settings)
    cors.install(app, settings)  # last: outermost, so every refusal carries CORS headers
    app.state.settings = settings
    app.state.storage = storage
    return app
