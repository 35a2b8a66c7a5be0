"""Schemathesis against the REST face, in-process: generated requests never get a 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from gql.openapi_export import openapi_document
from tests.gql.support import PREFLIGHT

EXAMPLES = 30


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    # Schemathesis serialises for `requests`; httpx takes raw bodies as `content`.
    out = {k: v for k, v in kwargs.items() if k in ("method", "url", "headers", "params", "files")}
    if kwargs.get("json") is not None:
        out["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    return out


def _fuzz(client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> tuple[int, list[str]]:
    """Runs every /api/ operation's examples; returns the requests sent and the failures."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    failures: list[str] = []
    sent = [0]
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises here, as wanted
        if not operation.path.startswith("/api/"):
            continue

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            raw = case.as_transport_kwargs(base_url="http://test", headers=PREFLIGHT)
            kwargs = _httpx_kwargs(raw)
            response = asyncio.run_coroutine_threadsafe(client.request(**kwargs), loop).result()
            sent[0] += 1
            if response.status_code >= 500:
                failures.append(f"{kwargs['method']} {kwargs['url']}: {response.status_code}")

        check()
    return sent[0], failures


async def test_generated_requests_get_no_server_error(client: httpx.AsyncClient) -> None:
    # Hypothesis drives synchronous code: run it in a thread, and send each request on
    # this loop, where the app and its database connections live.
    sent, failures = await asyncio.to_thread(_fuzz, client, asyncio.get_running_loop())
    assert sent >= 4 * 5, sent  # every operation got examples
    assert not failures, failures
