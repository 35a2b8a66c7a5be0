"""Log lines carry the upload and document ids of the conversion that wrote them."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tasks import logs


async def test_json_lines_carry_the_bound_ids(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging("INFO", json_lines=True)
    log = logging.getLogger("pagemill.test")

    async def convert(upload: str, document: str) -> None:
        logs.bind(upload_id=upload, document_id=document)
        log.info("page done")

    await asyncio.gather(convert("u1", "d1"), convert("u2", "d2"))
    log.info("outside any conversion")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["upload_id"], r["document_id"]) for r in lines] == [
        ("u1", "d1"),
        ("u2", "d2"),
        ("-", "-"),
    ]
    assert lines[0]["message"] == "page done" and lines[0]["level"] == "INFO"
    logging.getLogger().handlers.clear()
