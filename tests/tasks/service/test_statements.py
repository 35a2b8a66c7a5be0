"""What one converted document costs the database: statements (transaction control included)
sent by the worker path, counted against the real PostgreSQL so a regression shows."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from PIL import Image

from models.upload import Document, Status, Upload
from settings import Settings, get_settings
from tasks.broker import broker
from tasks.service import conversion, dedupe
from tasks.service.process import process_document
from tasks.storage import LocalStorage
from tests.tasks.service.test_dedupe import make_pdf

# Every way asyncpg sends SQL: BEGIN and COMMIT go through execute() too.
SENDS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")


class Statements:
    """The SQL sent while counting, in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @property
    def transactions(self) -> int:
        """How many transactions were opened."""
        return sum(1 for query in self.sent if query.lstrip().upper().startswith("BEGIN"))


# The statements of the conversion counted: background loops left by other tests (sweeper,
# webhook polls) run in tasks of their own, which do not see this set.
_COUNTED: ContextVar[Statements | None] = ContextVar("counted", default=None)


@contextmanager
def counting() -> Iterator[Statements]:
    """Count the statements sent by this task and the tasks it starts."""
    seen = Statements()
    originals = {name: getattr(asyncpg.Connection, name) for name in SENDS}

    def counted(name: str) -> Any:
        original = originals[name]

        async def send(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if _COUNTED.get() is seen:
                seen.sent.append(query)
            return await original(self, query, *args, **kwargs)

        return send

    token = _COUNTED.set(seen)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in SENDS:
                patch.setattr(asyncpg.Connection, name, counted(name))
            yield seen
    finally:
        _COUNTED.reset(token)


async def queued(source: Path, settings: Settings) -> Document:
    """A PENDING document of unique content in an upload of its own, as intake stores it."""
    storage = LocalStorage(settings.storage_dir)
    upload = await Upload.create(id=uuid.uuid4(), document_count=1)
    doc_id = uuid.uuid4()
    original = storage.original_path(upload.id, doc_id, source.suffix.lstrip("."))
    original.parent.mkdir(parents=True, exist_ok=True)
    original.write_bytes(source.read_bytes())
    return await Document.create(
        id=doc_id,
        upload=upload,
        index=0,
        filename=source.name,
        sha256=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        settings_fingerprint=dedupe.fingerprint(settings),
        size_bytes=original.stat().st_size,
        original_path=storage.relative(original),
    )


async def converted(source: Path, settings: Settings) -> Statements:
    """The statements spent converting `source` as a document of its own."""
    doc = await queued(source, settings)
    with pytest.MonkeyPatch.context() as patch, counting() as seen:
        # The once-a-second look at the lease is left out: it counts time, not work.
        patch.setattr(conversion, "WATCH_SECONDS", 3600.0)
        assert await process_document(doc.id, settings)
    # The upload's archive is built by a task of its own, not counted here.
    await broker.wait_all()  # type: ignore[attr-defined]
    assert (await Document.get(id=doc.id)).status == Status.COMPLETED
    return seen


# Measured when these limits were set: a small image 24 statements in 4 transactions (44 in
# 5 before), each further PDF page 6 statements in 1 transaction (9 before).
SMALL_IMAGE = 24
EACH_PAGE = 6


async def test_a_small_image_document_costs_few_statements(db: str, tmp_path: Path) -> None:
    settings = get_settings()
    image = tmp_path / "small.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(image)
    await converted(image, settings)  # warm: the conversion child and prepared statements

    seen = await converted(image, settings)

    assert len(seen.sent) <= SMALL_IMAGE, "\n".join(seen.sent)
    assert seen.transactions <= 4


async def test_each_further_pdf_page_costs_few_statements(db: str, tmp_path: Path) -> None:
    settings = get_settings()
    one = await converted(make_pdf(tmp_path / "one.pdf", 1), settings)

    twenty = await converted(make_pdf(tmp_path / "twenty.pdf", 20), settings)

    assert len(twenty.sent) - len(one.sent) <= 19 * EACH_PAGE, "\n".join(twenty.sent)
    assert twenty.transactions - one.transactions <= 19
