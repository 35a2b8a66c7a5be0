"""Browser pages: GraphiQL, Swagger UI (/docs) and ReDoc (/redoc), with their own assets.

Every script, stylesheet and font comes from gql/assets/ (pinned npm packages, fetched by
scripts/vendor-web-assets.sh), so the pages work on an air-gapped host, and each page is
sent with a Content-Security-Policy that allows nothing but this origin: no inline script,
no other host.
"""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent / "assets"
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    # The vendored stylesheets carry their icons and fonts inline, as data: URLs.
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def content_security_policy(extra: dict[str, str] | None = None) -> str:
    """The pages' policy, with `extra` sources added to some directives."""
    policy = dict(POLICY)
    for directive, sources in (extra or {}).items():
        policy[directive] += f" {sources}"
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


@cache
def _html(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def page(name: str, policy: str | None = None, **values: str) -> HTMLResponse:
    """A page of gql/assets/ ({name} placeholders filled from `values`) with a strict CSP."""
    html = _html(name)
    for key, value in values.items():
        html = html.replace("{" + key + "}", value)
    headers = {
        "Content-Security-Policy": policy or content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(html, headers=headers)


async def _docs(request: Request) -> HTMLResponse:
    return page("docs.html")


async def _redoc(request: Request) -> HTMLResponse:
    # ReDoc's styled-components inject <style> elements; each gets this request's nonce, and
    # its search index runs in a worker made from a blob.
    nonce = secrets.token_urlsafe(16)
    policy = content_security_policy({"style-src": f"'nonce-{nonce}'", "worker-src": "blob:"})
    return page("redoc.html", policy, nonce=nonce)


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and the assets under /assets (build the app with docs_url=None)."""
    app.router.routes.append(Route("/docs", _docs, methods=["GET"], include_in_schema=False))
    app.router.routes.append(Route("/redoc", _redoc, methods=["GET"], include_in_schema=False))
    app.mount("/assets", StaticFiles(directory=ASSETS), name="assets")
