"""Process logging: plain text or JSON lines, each record stamped with the ids in play."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

upload_id_var: ContextVar[str | None] = ContextVar("upload_id", default=None)
document_id_var: ContextVar[str | None] = ContextVar("document_id", default=None)

TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [upload=%(upload_id)s document=%(document_id)s] %(message)s"
)
JSON_FIELDS = (
    "%(asctime)s %(levelname)s %(name)s %(process)d %(upload_id)s %(document_id)s %(message)s"
)


class IdsFilter(logging.Filter):
    """Adds the upload and document ids of the running task (or "-") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.upload_id = upload_id_var.get() or "-"
        record.document_id = document_id_var.get() or "-"
        return True


def bind(upload_id: Any = None, document_id: Any = None) -> None:
    """Stamp the log records of the current task with these ids."""
    if upload_id is not None:
        upload_id_var.set(str(upload_id))
    if document_id is not None:
        document_id_var.set(str(document_id))


def setup_logging(level: str, json_lines: bool) -> None:
    """Configure the root logger of this process once (text, or JSON when json_lines)."""
    handler = logging.StreamHandler()
    handler.addFilter(IdsFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
