"""The browser pages reference only the service's own files and carry a strict CSP."""

from __future__ import annotations

import re

import httpx
import pytest

PAGES = ["/graphql", "/docs", "/redoc"]


@pytest.mark.parametrize("path", PAGES)
async def test_page_loads_only_its_own_assets(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path, headers={"Accept": "text/html"})

    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert "connect-src 'self'" in policy and "http" not in policy
    assert "<script>" not in page.text  # no inline script
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert references and all(ref.startswith("assets/") for ref in references)
    for ref in references:
        asset = await client.get(f"/{ref}")
        assert asset.status_code == 200, ref


async def test_every_vendored_package_keeps_its_licence(client: httpx.AsyncClient) -> None:
    from gql.pages import ASSETS

    for folder in (ASSETS / "vendor").iterdir():
        names = {p.name for p in folder.iterdir()}
        assert names & {"LICENSE", "package.json"}, folder.name


async def test_redoc_gets_a_fresh_style_nonce_per_request(client: httpx.AsyncClient) -> None:
    first, second = [await client.get("/redoc") for _ in range(2)]

    nonces = [
        re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]) for r in (first, second)
    ]
    assert nonces[0] and nonces[1] and nonces[0].group(1) != nonces[1].group(1)
    assert f'data-nonce="{nonces[0].group(1)}"' in first.text
