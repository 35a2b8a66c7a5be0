"""API fixtures: the app on the run's PostgreSQL database, with the embedded broker and bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from settings import Settings, get_settings


def make_app(**overrides: Any) -> FastAPI:
    """An app with settings overridden (Tortoise is already up through the `db` fixture)."""
    from gql.app import create_app

    settings: Settings = get_settings().model_copy(update=overrides)
    return create_app(settings, manage_db=False)


@pytest.fixture(scope="session")
async def app(db: str) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (broker, bus)."""
    application = make_app()
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
        yield c
