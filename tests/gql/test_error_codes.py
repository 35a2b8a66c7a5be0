"""Every refused operation carries `extensions.code`, over HTTP and WebSocket, and /metrics
counts it under the same code."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets

from gql.prepared import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS

# The schema has no path this deep (the limit ignores introspection): it is invalid too.
DEEP = "{ " + "uploads { edges { node { " * MAX_DEPTH + "id" + " } } }" * MAX_DEPTH + " }"
CASES = {
    "syntax error": ("{ ping", "GRAPHQL_PARSE_FAILED"),
    "unknown field": ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    "wrong argument type": ("{ upload(id: true) { id } }", "GRAPHQL_VALIDATION_FAILED"),
    "too deep": (DEEP, "QUERY_TOO_COMPLEX"),
    "too many aliases": (
        "{ " + " ".join(f"a{i}: ping" for i in range(MAX_ALIASES + 1)) + " }",
        "QUERY_TOO_COMPLEX",
    ),
    "too many tokens": ("{ " + "ping " * MAX_TOKENS + "}", "QUERY_TOO_COMPLEX"),
    "missing variable": ("query($id: ID!) { upload(id: $id) { id } }", "BAD_USER_INPUT"),
    "subscription not valid": (
        "subscription { uploadEvents(id: 1) { nope } }",
        "GRAPHQL_VALIDATION_FAILED",
    ),
}


async def rejections(client: httpx.AsyncClient, code: str) -> float:
    """pagemill_rejections_total for one code, as /metrics shows it."""
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(f'pagemill_rejections_total{{code="{code}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def over_websocket(host: str, query: str) -> list[dict[str, Any]]:
    """The errors of one operation sent over graphql-transport-ws."""
    async with websockets.connect(
        f"ws://{host}/graphql", subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message = json.loads(await ws.recv())
    if message["type"] == "error":
        return list(message["payload"])
    return list(message["payload"]["errors"])  # a query's result comes as "next"


@pytest.mark.parametrize("case", list(CASES))
async def test_refusals_carry_their_code_and_are_counted(
    case: str, server: str, client: httpx.AsyncClient
) -> None:
    query, code = CASES[case]
    before = await rejections(client, code)
    async with httpx.AsyncClient(base_url=f"http://{server}") as http:
        over_http = codes(await errors_over_http(http, query))
    assert code in over_http, over_http
    assert await rejections(client, code) == before + over_http.count(code)
    over_ws = codes(await over_websocket(server, query))
    assert over_ws == over_http
    assert await rejections(client, code) == before + 2 * over_http.count(code)


async def errors_over_http(http: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    """The errors of one operation POSTed (a subscription as server-sent events)."""
    if not query.startswith("subscription"):
        return list((await http.post("/graphql", json={"query": query})).json()["errors"])
    stream = {"Accept": "text/event-stream"}
    response = await http.post("/graphql", json={"query": query}, headers=stream)
    data = next(line for line in response.text.splitlines() if line.startswith("data: "))
    return list(json.loads(data.removeprefix("data: "))["errors"])


def codes(errors: list[dict[str, Any]]) -> list[str]:
    """The code of every error (each must have one)."""
    assert errors
    return [error["extensions"]["code"] for error in errors]
