"""CORS for the allowed origins over HTTP (GraphQL, REST, downloads), preflights included, and
in Chromium: a browser app on an allowed origin uses the API, others are refused, a refused
WebSocket is told why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.clients.browser import chromium
from tests.clients.conftest import ORIGIN, OTHER_ORIGIN
from tests.e2e.harness import Cluster

APOLLO_HEADERS = "content-type, apollo-require-preflight, authorization, x-apollo-operation-name"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": APOLLO_HEADERS,
    }


@pytest.mark.parametrize(
    ("path", "method"),
    [("/graphql", "POST"), ("/api/v1/jobs", "POST"), ("/files/uploads/x.png", "GET")],
)
async def test_preflight_from_an_allowed_origin_is_answered(
    served: Cluster, path: str, method: str
) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        response = await http.options(path, headers=preflight(ORIGIN, method))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert method in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(header in allowed for header in APOLLO_HEADERS.split(", "))


async def test_responses_to_an_allowed_origin_carry_cors_headers(
    served: Cluster, finished_upload: dict[str, Any]
) -> None:
    page_url = finished_upload["documents"][0]["pages"][0]["url"]
    async with httpx.AsyncClient(headers={"Origin": ORIGIN}) as http:
        graphql = await http.post(served.graphql_url, json={"query": "{ ping }"})
        download = await http.get(page_url)
        rest = await http.get(f"{served.url}/api/v1/jobs/{finished_upload['id']}")

    for response in (graphql, download, rest):
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN


async def test_other_origins_get_no_cors_headers(served: Cluster) -> None:
    async with httpx.AsyncClient(base_url=served.url) as http:
        refused = await http.options("/graphql", headers=preflight(OTHER_ORIGIN))
        plain = await http.post(
            "/graphql", json={"query": "{ ping }"}, headers={"Origin": OTHER_ORIGIN}
        )

    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in plain.headers


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def app_page(browser: Browser, origin: str) -> Page:
    """The browser app's page, loaded from `origin` (both origins are the app server's)."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{origin}/")
    return page


FETCH = """async ([url, headers]) => {
  try {
    const body = JSON.stringify({query: "{ ping }"});
    const response = await fetch(url, {method: "POST", headers, body});
    return {status: response.status, body: await response.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""
SOCKET = """url => new Promise(resolve => {
  const socket = new WebSocket(url, "graphql-transport-ws");
  socket.onopen = () => socket.send(JSON.stringify({type: "connection_init", payload: {}}));
  socket.onmessage = event => { resolve({message: JSON.parse(event.data).type}); socket.close(); };
  socket.onclose = event => resolve({code: event.code, reason: event.reason});
})"""


async def test_a_browser_app_on_an_allowed_origin_uses_the_api(
    served: Cluster, browser: Browser, app_origin: str
) -> None:
    page = await app_page(browser, ORIGIN)
    headers = {"Content-Type": "application/json", "Apollo-Require-Preflight": "true"}

    result = await page.evaluate(FETCH, [served.graphql_url, headers])
    socket = await page.evaluate(SOCKET, served.ws_url)

    assert result["status"] == 200 and "ping" in result["body"]["data"]
    assert socket == {"message": "connection_ack"}
    await page.context.close()


async def test_a_browser_app_on_another_origin_is_refused_and_told_why(
    served: Cluster, browser: Browser, app_origin: str
) -> None:
    page = await app_page(browser, OTHER_ORIGIN)
    headers = {"Content-Type": "application/json", "Apollo-Require-Preflight": "true"}

    result = await page.evaluate(FETCH, [served.graphql_url, headers])
    socket = await page.evaluate(SOCKET, served.ws_url)

    assert "Failed to fetch" in result["error"]
    assert socket["code"] == 1008
    assert OTHER_ORIGIN in socket["reason"] and "PAGEMILL_ALLOWED_ORIGINS" in socket["reason"]
    await page.context.close()


async def test_a_refusal_to_an_allowed_origin_carries_cors_headers(served: Cluster) -> None:
    # A multipart request without the CSRF header is refused before the app sees it.
    async with httpx.AsyncClient(headers={"Origin": ORIGIN}) as http:
        refused = await http.post(served.graphql_url, files={"0": ("a.png", b"x")})

    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "CSRF_BLOCKED"
    assert refused.headers["access-control-allow-origin"] == ORIGIN
