"""Requests the GraphQL endpoint refuses before execution get a JSON error with a code."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_refused_with_a_code(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/graphql", json={"query": "{ ping }"})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "Unable to parse request body as JSON"),
        (b'{"query": "query A { ping }", "operationName": "B"}', 'Unknown operation named "B"'),
    ],
)
async def test_unreadable_requests_are_refused_with_a_code(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    headers = {"Content-Type": "application/json"}
    response = await client.post("/graphql", content=body, headers=headers)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST" and message in error["message"]


async def test_a_mutation_over_get_is_refused_with_a_code(client: httpx.AsyncClient) -> None:
    query = "mutation { pauseProcessing { paused } }"
    response = await client.get("/graphql", params={"query": query})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
