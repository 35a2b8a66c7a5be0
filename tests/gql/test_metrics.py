"""/metrics reports pages, queue depth and conversion times that the database records."""

from __future__ import annotations

import re

import httpx

from tests.gql.support import create, pdf, wait_terminal


def _value(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def test_metrics_count_pages_and_conversion_seconds(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    upload = await create(client, [("three.pdf", pdf(3))])
    done = await wait_terminal(client, upload["id"])
    assert done["status"] == "COMPLETED"

    after = (await client.get("/metrics")).text

    assert _value(after, "pagemill_pages") >= _value(before, "pagemill_pages") + 3
    assert _value(after, "pagemill_queue_depth") >= 0
    assert _value(after, "pagemill_in_flight") >= 0
    converted = _value(after, "pagemill_render_seconds_gcount")
    assert converted >= _value(before, "pagemill_render_seconds_gcount") + 1
    assert _value(after, 'pagemill_render_seconds_bucket{le="+Inf"}') == converted
