"""Valid PDFs at the edges of what a page can be convert through the real processes: a page
one point wide and 200 inches tall, and blank pages (no /Contents, an empty content stream)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.client import create_upload, wait_terminal
from tests.e2e.harness import Cluster
from tests.fixtures.make import A4, PdfPage, build_pdf


async def test_a_sliver_page_and_blank_pages_convert(distributed: Cluster, tmp_path: Path) -> None:
    sliver = build_pdf(tmp_path / "sliver.pdf", [PdfPage(1, 14_400)])
    blank = build_pdf(
        tmp_path / "blank.pdf",
        [PdfPage(*A4, blank=True), PdfPage(*A4, empty=True), PdfPage(*A4)],
    )
    upload = await create_upload(distributed.graphql_url, [sliver, blank])
    final = await wait_terminal(distributed.graphql_url, upload["id"])
    assert final["status"] == "COMPLETED", final
    by_name = {d["filename"]: d for d in final["documents"]}
    assert {d["status"] for d in by_name.values()} == {"COMPLETED"}, by_name
    assert [(p["width"], p["height"]) for p in by_name["sliver.pdf"]["pages"]] == [(1, 3500)]
    assert [(p["width"], p["height"]) for p in by_name["blank.pdf"]["pages"]] == [(2473, 3500)] * 3
