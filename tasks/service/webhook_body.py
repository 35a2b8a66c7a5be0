"""The JSON body of an upload's webhook message: the upload as its final query shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

from models.upload import TERMINAL, Document, Status, Upload


def file_url(base: str, path: str) -> str:
    """Absolute download URL of a storage-relative path (as the API serves it)."""
    return f"{base.rstrip('/')}/files/{path}"


async def body(upload_id: UUID, event: str, public_url: str) -> str:
    """The message body: type, the upload's finishing time, and its state in `data`."""
    upload = await Upload.get(id=upload_id)
    documents = await Document.filter(upload_id=upload_id).order_by("index")
    base = public_url or upload.public_base or ""
    terminal = Status(upload.status) in TERMINAL
    archive = file_url(base, upload.archive_path) if terminal and upload.archive_path else None
    finished = upload.finished_at or datetime.now(UTC)
    data = {
        "uploadId": str(upload.id),
        "status": str(upload.status),
        "documentCount": upload.document_count,
        "pageCount": sum(doc.page_count or 0 for doc in documents),
        "archiveUrl": archive,
        "documents": [
            {
                "id": str(doc.id),
                "filename": doc.filename,
                "status": str(doc.status),
                "pageCount": doc.page_count,
                "errorCode": str(doc.error_code) if doc.error_code else None,
            }
            for doc in documents
        ],
    }
    return json.dumps({"type": event, "timestamp": finished.isoformat(), "data": data})
