"""GraphiQL, Swagger UI and ReDoc in headless Chromium with no network but the service."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from client.graphql import multipart_form
from tests.clients.browser import Offline, chromium, offline_page
from tests.e2e.client import CREATE, PREFLIGHT
from tests.e2e.harness import Cluster, cluster_env

SCREENSHOT = "graphiql-offline.png"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def run_in_graphiql(page: Page, query: str, *expected: str) -> None:
    """Replace the editor's operation, press Run, and wait for the response to show `expected`."""
    await page.evaluate(
        "query => document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.setValue(query)",
        query,
    )
    # GraphiQL reads the operation (and its name) from the editor after a short debounce.
    await page.wait_for_timeout(500)
    await page.locator(".graphiql-execute-button").click()
    response = page.locator(".graphiql-response")
    for text in expected:
        await expect(response).to_contain_text(text, timeout=30_000)


async def set_headers(page: Page, headers: str) -> None:
    """Type `headers` into GraphiQL's headers editor."""
    await page.locator(".graphiql-editor-tools [data-name=headers]").click()
    await page.evaluate(
        "headers => document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden)"
        " .CodeMirror').CodeMirror.setValue(headers)",
        headers,
    )


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`pagemill serve` with bearer tokens on (principal alice)."""
    root = tmp_path_factory.mktemp("guarded")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGEMILL_")}
    env.update(
        PAGEMILL_STORAGE_DIR=str(root / "storage"), PAGEMILL_API_TOKENS='["alice:alice-token"]'
    )
    with cluster_env(env, root) as cluster:
        cluster.start_api()
        yield cluster


async def alices_upload(cluster: Cluster) -> str:
    """The id of an upload of one small PNG made with alice's token."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), "teal").save(buffer, "PNG")
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(
            cluster.graphql_url,
            data=multipart_form(CREATE, 1, None),
            files=[("0", ("square.png", buffer.getvalue()))],
            headers={**PREFLIGHT, "Authorization": "Bearer alice-token"},
        )
    return str(response.json()["data"]["createUpload"]["id"])


def assert_self_contained(offline: Offline) -> None:
    assert offline.blocked == [], f"requests to other hosts: {offline.blocked}"
    assert offline.csp_violations == []
    assert offline.page_errors == []


async def test_graphiql_runs_ping_a_query_and_a_subscription_offline(
    served: Cluster, finished_upload: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    async with offline_page(browser, served.url) as offline:
        response = await offline.page.goto(served.graphql_url)
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]

        await run_in_graphiql(offline.page, "query Ping { ping }", '"ping"')
        upload = f'{{ upload(id: "{finished_upload["id"]}") {{ status documentCount }} }}'
        await run_in_graphiql(offline.page, upload, '"COMPLETED"', '"documentCount": 1')
        events = (
            f'subscription {{ uploadEvents(id: "{finished_upload["id"]}")'
            " { sequence kind uploadStatus } }"
        )
        await run_in_graphiql(offline.page, events, '"SNAPSHOT"', '"uploadStatus": "COMPLETED"')

        await offline.page.screenshot(path=tmp_path / SCREENSHOT)
        assert_self_contained(offline)


async def test_graphiql_subscribes_with_the_token_of_its_headers_editor(
    guarded: Cluster, browser: Browser
) -> None:
    upload_id = await alices_upload(guarded)
    events = f'subscription {{ uploadEvents(id: "{upload_id}") {{ kind uploadId }} }}'
    async with offline_page(browser, guarded.url) as offline:
        await offline.page.goto(guarded.graphql_url)
        # A browser WebSocket carries no headers: without a token the server closes it.
        await run_in_graphiql(offline.page, events, "4401")

        # The editor's Authorization header goes in the socket's connection_init payload.
        await set_headers(offline.page, '{"Authorization": "Bearer alice-token"}')
        await run_in_graphiql(offline.page, events, '"SNAPSHOT"', upload_id)
        assert offline.blocked == [] and offline.csp_violations == []


async def test_swagger_ui_renders_the_rest_face_offline(served: Cluster, browser: Browser) -> None:
    async with offline_page(browser, served.url) as offline:
        await offline.page.goto(f"{served.url}/docs")

        operations = offline.page.locator(".opblock-summary-path")
        await expect(operations.first).to_be_visible(timeout=30_000)
        paths = set(await operations.all_inner_texts())
        assert "/api/v1/jobs" in {p.replace("\u200b", "") for p in paths}
        await offline.page.locator(".opblock-summary").first.click()
        await expect(offline.page.locator(".opblock-body").first).to_be_visible()
        assert_self_contained(offline)


async def test_redoc_renders_the_rest_face_offline(served: Cluster, browser: Browser) -> None:
    async with offline_page(browser, served.url) as offline:
        await offline.page.goto(f"{served.url}/redoc")

        await expect(offline.page.locator("h1").first).to_contain_text("pagemill", timeout=30_000)
        await expect(offline.page.get_by_text("/api/v1/jobs").first).to_be_attached()
        # Nothing left the host: ReDoc's "by Redocly" logo is stopped by the CSP before any
        # request, and the page hides it.
        assert offline.blocked == []
        assert offline.page_errors == []
