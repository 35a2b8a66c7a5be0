"""The query cost limit over a real server: what the data could make a query cost is
refused before execution, ordinary status queries pass, large answers encode off the loop."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI

from gql.encoding import Encoded, encoded_off_loop, larger_than
from tests.gql.conftest import make_app
from tests.gql.support import GET_UPLOAD
from tests.security.test_api_abuse import serving

PAGES = "edges { node { documents { pages { url } } } }"
THIRTY = "{ " + " ".join(f"a{i}: uploads(first: 100) {{ {PAGES} }}" for i in range(30)) + " }"
BY_VARIABLE = f"query($n: Int) {{ uploads(first: $n) {{ {PAGES} }} }}"
BY_FRAGMENT = """
  query { uploads(first: 100) { edges { node { ...Everything } } } }
  fragment Everything on Upload { documents { ... on Document { pages { url } } } }
"""
NOWHERE = "00000000-0000-0000-0000-000000000000"
NODE = f'{{ node(id: "{NOWHERE}") {{ ... on Upload {{ documents {{ pages {{ url }} }} }} }} }}'


async def _post(c: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await c.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _refused(body: dict[str, Any]) -> bool:
    errors = body.get("errors") or []
    return bool(errors) and errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_queries_the_data_could_make_huge_are_refused_before_execution(
    app: FastAPI,
) -> None:
    async with serving(make_app()) as host, httpx.AsyncClient(base_url=f"http://{host}") as c:
        thirty = await _post(c, THIRTY)
        assert _refused(thirty) and thirty.get("data") is None, thirty
        assert "over the limit of 200000000" in thirty["errors"][0]["message"]
        assert _refused(await _post(c, BY_VARIABLE, n=100))
        assert not _refused(await _post(c, BY_VARIABLE, n=20))  # a page of the listing passes
        assert _refused(await _post(c, BY_FRAGMENT))
        status = await _post(c, GET_UPLOAD, id=NOWHERE)
        assert status == {"data": {"upload": None}}  # the full status query passes
        assert not _refused(await _post(c, NODE))
    strict = make_app(max_query_cost=1000)
    async with serving(strict) as host, httpx.AsyncClient(base_url=f"http://{host}") as c:
        assert _refused(await _post(c, GET_UPLOAD, id=NOWHERE))
        assert _refused(await _post(c, NODE))
        assert (await _post(c, "{ ping }"))["data"]["ping"]


async def test_large_answers_are_encoded_in_a_thread_and_small_ones_are_not() -> None:
    small = {"data": {"upload": {"id": "x", "pages": [{"url": "u"}] * 10}}}
    big = {"data": {"uploads": [{"url": f"u{i}"} for i in range(20_000)]}}
    assert not larger_than(small) and larger_than(big)
    assert await encoded_off_loop(small, json.dumps) is small
    answer = await encoded_off_loop(big, json.dumps)
    assert isinstance(answer, Encoded) and json.loads(answer.body) == big
