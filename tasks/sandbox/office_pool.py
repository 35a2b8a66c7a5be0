"""The office step of a conversion: a document's PDF rendition, made by a pooled LibreOffice."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from settings import Settings
from tasks.engine import office
from tasks.engine.errors import ConversionError
from tasks.sandbox.office_server import OfficeServer
from tasks.sandbox.runner import ConversionJob
from tasks.sandbox.slots import get_slots


class OfficePool:
    """One LibreOffice instance per conversion slot of this process, started lazily."""

    def __init__(self, size: int) -> None:
        self.servers = [OfficeServer(slot) for slot in range(size)]
        self._idle: asyncio.Queue[OfficeServer] = asyncio.Queue()
        for server in self.servers:
            self._idle.put_nowait(server)

    async def to_pdf(self, source: Path, kind: str, target: Path, settings: Settings) -> None:
        """Converts source into target (a PDF) on the next free instance."""
        server = await self._idle.get()
        try:
            await server.to_pdf(source, kind, target, settings)
        finally:
            self._idle.put_nowait(server)

    async def close(self) -> None:
        """Stops every instance and removes its profile."""
        await asyncio.gather(*(server.close() for server in self.servers))


# This process's pool; it belongs to the event loop that first used it.
_pool: OfficePool | None = None


def shared_pool(size: int) -> OfficePool:
    """The process's pool, made with `size` instances on first use."""
    global _pool
    if _pool is None:
        _pool = OfficePool(size)
    return _pool


async def close_shared_pool() -> None:
    """Stops the process's LibreOffice instances (worker and embedded API shutdown)."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()


async def rendition(job: ConversionJob, settings: Settings, pool: OfficePool) -> ConversionJob:
    """The job that renders the document's PDF rendition, made unless an earlier attempt did."""
    target = office.rendition_path(job.pages_dir)
    if not target.is_file():
        if office.is_encrypted(job.source, job.kind):
            raise ConversionError("ENCRYPTED_DOCUMENT", "The document is password-protected")
        target.parent.mkdir(parents=True, exist_ok=True)
        # LibreOffice's CPU work counts against the process's conversion slots too. The slot
        # is taken before an instance, always in this order, so the two never deadlock.
        async with get_slots(settings).hold():
            await pool.to_pdf(job.source, job.kind, target, settings)
    return dataclasses.replace(job, source=target, kind="pdf")
