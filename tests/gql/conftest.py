"""API fixtures: the app on the run's PostgreSQL database, with the embedded broker and bus."""

from __future__ import annotations

import asyncio
import contextvars
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from settings import Settings, get_settings
from tests.gql.support import wait_for


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


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def started(instance: uvicorn.Server) -> bool:
    """Whether uvicorn accepts connections."""
    return instance.started


@pytest.fixture(scope="module")
async def server(app: Any) -> AsyncIterator[str]:
    """uvicorn serving the app in this event loop (the session's lifespan already runs)."""
    port = free_port()
    config = uvicorn.Config(
        make_app(), host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    await wait_for(lambda: started(instance), "uvicorn to start", timeout=30)
    yield f"127.0.0.1:{port}"
    instance.should_exit = True
    await task


COUNTING: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


@pytest.fixture
def query_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """SQL statements run on behalf of code started while COUNTING is set.

    Tasks inherit the context they are created in, so DataLoader batches count, while
    background conversions, heartbeats and sweeps started earlier do not.
    """
    seen: list[str] = []
    for name in ("execute_query", "execute_query_dict"):
        original = getattr(AsyncpgDBClient, name)

        def wrapper(self: Any, query: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            if COUNTING.get():
                seen.append(query)
            return _original(self, query, *args, **kw)

        monkeypatch.setattr(AsyncpgDBClient, name, wrapper)
    yield seen
