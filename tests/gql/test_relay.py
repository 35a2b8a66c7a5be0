"""Relay: connections page both ways with complete PageInfo and totalCount; node(id) finds
uploads, documents and pages, only the caller's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from gql.pagination import MAX_PAGE_SIZE
from gql.schema import sdl
from tests.gql.conftest import make_app
from tests.gql.support import create, data, graphql, png, wait_terminal

PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  uploads(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
NOT_A_DOCUMENT = b"plain text: fails at once, nothing to convert"
NODE = """query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Upload { status }
    ... on Document { filename }
    ... on Page { number width }
  }
}"""


@pytest.fixture
async def mine(db: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose token's principal owns no upload yet (so the listing is its own)."""
    name = f"relay-{uuid4().hex[:8]}"
    app = make_app(api_tokens=[f"{name}:{name}-token"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {name}-token"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers, timeout=60
        ) as client:
            yield client


async def page(client: httpx.AsyncClient, **arguments: Any) -> tuple[list[str], dict[str, Any]]:
    """The ids listed and the connection's page info."""
    found = (await data(client, PAGE, arguments))["uploads"]
    assert found["totalCount"] == 5
    return [edge["node"]["id"] for edge in found["edges"]], found["pageInfo"]


async def test_uploads_page_forwards_and_backwards(mine: httpx.AsyncClient) -> None:
    ids = [(await create(mine, [(f"{i}.txt", NOT_A_DOCUMENT)]))["id"] for i in range(5)][::-1]
    listed, info = await page(mine, first=2)
    assert listed == ids[:2]
    assert (info["hasPreviousPage"], info["hasNextPage"]) == (False, True)
    listed, info = await page(mine, first=2, after=info["endCursor"])
    assert listed == ids[2:4]
    assert (info["hasPreviousPage"], info["hasNextPage"]) == (True, True)
    listed, info = await page(mine, last=2, before=info["startCursor"])
    assert listed == ids[:2]
    assert (info["hasPreviousPage"], info["hasNextPage"]) == (False, True)
    listed, info = await page(mine, last=2)
    assert listed == ids[3:]
    assert (info["hasPreviousPage"], info["hasNextPage"]) == (True, False)
    listed, info = await page(mine, last=3, before=info["endCursor"])
    assert listed == ids[1:4]
    assert info["startCursor"] != info["endCursor"]
    for too_many in ({"first": MAX_PAGE_SIZE + 1}, {"last": MAX_PAGE_SIZE + 1}):
        body = await graphql(mine, PAGE, too_many)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_node_finds_uploads_documents_and_pages(
    mine: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    created = await create(mine, [("p.png", png())])
    finished = await wait_terminal(mine, created["id"])
    document = finished["documents"][0]
    for ident, expected in (
        (finished["id"], {"__typename": "Upload", "status": "COMPLETED"}),
        (document["id"], {"__typename": "Document", "filename": "p.png"}),
        (document["pages"][0]["id"], {"__typename": "Page", "number": 1, "width": 64}),
    ):
        node = (await data(mine, NODE, {"id": ident}))["node"]
        assert node == {"id": ident, **expected}
    assert (await data(mine, NODE, {"id": str(uuid4())}))["node"] is None
    other = await create(client, [("q.png", png())])  # the anonymous admin's
    assert (await data(mine, NODE, {"id": other["id"]}))["node"] is None
    body = await graphql(mine, NODE, {"id": "not-a-uuid"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_schema_states_the_page_size_cap_and_relay_names() -> None:
    text = sdl()
    assert f"take at most {MAX_PAGE_SIZE}" in text
    for name in ("interface Node", "type Upload implements Node", "node(id: ID!): Node",
                 "hasPreviousPage: Boolean!", "startCursor: String", "totalCount: Int!",
                 "last: Int = null, before: String = null"):  # fmt: skip
        assert name in text, name
