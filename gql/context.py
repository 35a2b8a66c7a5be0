"""The per-request GraphQL context: settings, storage, loaders, base URL, request id."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from gql.loaders import Loaders
from gql.principals import Principal, principal_of
from gql.security import bearer_token
from settings import Settings
from tasks.storage import ObjectStore, open_storage


@dataclass
class Context(BaseContext):
    """What every resolver can rely on."""

    settings: Settings = field(default_factory=Settings)
    storage: ObjectStore | None = None
    base_url: str = ""
    request_id: str = ""
    # None until a WebSocket authenticates in connection_init (or never, for a bad token).
    principal: Principal | None = None
    loaders: Loaders = field(default_factory=Loaders)

    def __post_init__(self) -> None:
        super().__init__()

    @property
    def is_admin(self) -> bool:
        """True for admin tokens, and for everyone when tokens are off."""
        return self.principal is not None and self.principal.admin

    def file_url(self, path: str) -> str:
        """Absolute download URL of a storage-relative path."""
        return file_url(self.base_url, path)

    def get_storage(self) -> ObjectStore:
        """The storage (always set by the context getter)."""
        if self.storage is None:
            self.storage = open_storage(self.settings)
        return self.storage


def file_url(base_url: str, path: str) -> str:
    """Absolute download URL of a storage-relative path."""
    return f"{base_url}/files/{path}"


def base_url_of(connection: HTTPConnection, settings: Settings) -> str:
    """settings.public_url if set, else the base URL the client used (http(s) for ws)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    url = str(connection.base_url).rstrip("/")
    if url.startswith("ws"):
        url = "http" + url[2:]
    return url


def make_context_getter(
    settings: Settings, storage: ObjectStore
) -> Callable[[HTTPConnection], Awaitable[Context]]:
    """A FastAPI dependency building the Context of each request or WebSocket."""

    async def get_context(connection: HTTPConnection) -> Context:
        request_id = connection.headers.get("x-request-id") or secrets.token_hex(8)
        token = bearer_token(connection.headers.get("authorization"))
        return Context(
            settings=settings,
            storage=storage,
            base_url=base_url_of(connection, settings),
            request_id=request_id[:64],
            principal=principal_of(token, settings),
        )

    return get_context
