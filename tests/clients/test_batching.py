"""Batched GraphQL requests: Apollo Client's BatchHttpLink, and the limits on a batch."""

from __future__ import annotations

from typing import Any

import httpx

from tests.clients.node import run_node
from tests.e2e.harness import Cluster

# Deeper than the depth limit (10); the limit ignores introspection.
TOO_DEEP = "{ " + "uploads { edges { node { " * 10 + "id" + " } } }" * 10 + " }"


async def test_apollo_batch_http_link_sends_queries_as_one_batch(
    served: Cluster, finished_upload: dict[str, Any]
) -> None:
    queries = [
        "query Ping { ping }",
        f'query One {{ upload(id: "{finished_upload["id"]}") {{ status }} }}',
    ]
    queries.append("query Docs { uploads(first: 1) { edges { node { documentCount } } } }")

    status, lines = await run_node("apollo_batch.mjs", served.graphql_url, *queries)

    assert status == 0
    *results, traffic = lines
    assert traffic == {"requests": 1, "batchSizes": [3]}
    assert [r["error"] for r in results] == [None, None, None]
    assert results[1]["data"]["upload"]["status"] == "COMPLETED"
    assert "ping" in results[0]["data"]


async def test_each_operation_of_a_batch_meets_the_abuse_limits(served: Cluster) -> None:
    batch = [{"query": "{ ping }"}, {"query": TOO_DEEP}]
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(served.graphql_url, json=batch)

    assert response.status_code == 200
    fine, refused = response.json()
    assert "ping" in fine["data"]
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_a_batch_over_the_limit_gets_a_typed_error(served: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(served.graphql_url, json=[{"query": "{ ping }"}] * 11)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BATCH_TOO_LARGE"
    assert "11 operations" in error["message"] and "limit of 10" in error["message"]


async def test_a_malformed_batch_gets_a_typed_error(served: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        empty = await http.post(served.graphql_url, json=[])
        junk = await http.post(served.graphql_url, json=[1, "two"])

    for response in (empty, junk):
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
