"""The embedded default end to end: `pagemill serve` alone (SQLite, in-memory broker)."""

from __future__ import annotations

from pathlib import Path

import httpx
from PIL import Image

from tests.e2e.client import create_upload, wait_terminal
from tests.e2e.harness import Cluster


async def test_multipart_upload_converts_to_completed(
    embedded: Cluster, samples: dict[str, Path], tmp_path: Path
) -> None:
    created = await create_upload(embedded.graphql_url, [samples["pdf"], samples["png"]])
    assert created["status"] in ("PENDING", "IN_PROGRESS")
    assert [d["filename"] for d in created["documents"]] == ["mixed.pdf", "alpha.png"]

    upload = await wait_terminal(embedded.graphql_url, created["id"])

    assert upload["status"] == "COMPLETED"
    pdf, png = upload["documents"]
    assert pdf["pageCount"] == 3 and [p["number"] for p in pdf["pages"]] == [1, 2, 3]
    async with httpx.AsyncClient(timeout=60) as http:
        original = await http.get(png["original"]["url"])
        assert original.content == samples["png"].read_bytes()
        page = await http.get(pdf["pages"][0]["url"])
    assert page.headers["content-type"] == "image/png"
    out = tmp_path / "page.png"
    out.write_bytes(page.content)
    with Image.open(out) as image:
        assert image.size == (2550, 3300)
