"""Bearer tokens, admin-only mutations, error masking and the introspection switch."""

from __future__ import annotations

import httpx
import pytest

from tasks.service import control
from tests.gql.conftest import make_app
from tests.gql.support import graphql, png, upload


async def test_tokens_are_required_when_configured(db: str) -> None:
    app = make_app(api_tokens=["user-token"], admin_tokens=["admin-token"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        refused = await c.post("/graphql", json={"query": "{ ping }"})
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        wrong = {"Authorization": "Bearer nope"}
        denied = await c.post("/graphql", json={"query": "{ ping }"}, headers=wrong)
        assert denied.status_code == 401
        user = {"Authorization": "Bearer user-token"}
        assert "ping" in (await graphql(c, "{ ping }", headers=user))["data"]
        # A bearer token is not sent by browsers cross-site: it satisfies the CSRF rule.
        response = await upload(c, [("a.png", png())], headers=user)
        assert not response.json().get("errors"), response.json()
        pause = "mutation { pauseProcessing { paused } }"
        forbidden = await graphql(c, pause, headers=user)
        assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        admin = {"Authorization": "Bearer admin-token"}
        resumed = await graphql(c, "mutation { resumeProcessing { paused } }", headers=admin)
        assert resumed["data"] == {"resumeProcessing": {"paused": False}}


async def test_unexpected_errors_are_masked(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> list[object]:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(control, "live_workers", broken)
    body = await graphql(client, "{ workers { id } }")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "hunter2" not in error["message"]


async def test_validation_errors_are_not_masked(client: httpx.AsyncClient) -> None:
    body = await graphql(client, "{ nosuchfield }")
    assert "nosuchfield" in body["errors"][0]["message"]


async def test_introspection_can_be_switched_off(db: str) -> None:
    query = "{ __schema { queryType { name } } }"
    for enabled in (True, False):
        app = make_app(introspection=enabled)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = await graphql(c, query)
        assert bool(body.get("errors")) is not enabled
