"""The zip of all pages of a terminal upload, with a manifest.json describing every document."""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from uuid import UUID

from models.upload import TERMINAL, Document, Page, Upload
from tasks.storage import ObjectStore, keys


async def build_archive(upload_id: UUID, storage: ObjectStore) -> str | None:
    """Zip every page of a terminal upload with a manifest.json; returns its key."""
    upload = await Upload.get_or_none(id=upload_id)
    if upload is None or upload.status not in TERMINAL:
        return None
    documents = await Document.filter(upload_id=upload_id).order_by("index")
    pages = await Page.filter(document__upload_id=upload_id).order_by("number")
    by_document: dict[UUID, list[Page]] = {}
    for page in pages:
        by_document.setdefault(UUID(str(page.document_id)), []).append(page)
    manifest = _manifest(upload, documents, by_document)
    target = keys.archive_key(upload_id)
    files = [
        (page.path, entry["archive_path"])
        for doc in manifest["documents"]
        for page, entry in zip(by_document.get(UUID(doc["id"]), []), doc["pages"], strict=True)
    ]
    files += [
        (doc.pdf_path, entry["pdf"])
        for doc, entry in zip(documents, manifest["documents"], strict=True)
        if doc.pdf_path and entry["pdf"]
    ]
    await asyncio.to_thread(_write_zip, storage, target, manifest, files)
    await Upload.filter(id=upload_id).update(archive_path=target)
    return target


def _manifest(
    upload: Upload, documents: list[Document], by_document: dict[UUID, list[Page]]
) -> dict[str, Any]:
    return {
        "upload_id": str(upload.id),
        "status": upload.status.value,
        # Archiver and system metadata found in zips (resource forks, thumbnails, folders).
        "skipped": list(upload.skipped_entries or []),
        "documents": [
            {
                "id": str(doc.id),
                "index": doc.index,
                "filename": doc.filename,
                "status": doc.status.value,
                "content_type": doc.content_type,
                "sha256": doc.sha256,
                "page_count": doc.page_count,
                "error_code": doc.error_code.value if doc.error_code else None,
                "error_message": doc.error_message,
                # The PDF rendition of an office document, None for other inputs.
                "pdf": f"{_archive_dir(doc)}/document.pdf" if doc.pdf_path else None,
                "pages": [
                    {
                        "number": page.number,
                        "width": page.width,
                        "height": page.height,
                        "size_bytes": page.size_bytes,
                        "archive_path": f"{_archive_dir(doc)}/{page.number:04d}.png",
                    }
                    for page in by_document.get(doc.id, [])
                ],
            }
            for doc in documents
        ],
    }


def _archive_dir(doc: Document) -> str:
    # Client filenames are data: only a stem of safe characters goes into the zip's names.
    stem = Path(PurePosixPath(doc.filename.replace("\\", "/")).name).stem
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "document"
    return f"{doc.index:04d}-{safe}"


def _write_zip(
    storage: ObjectStore, target: str, manifest: dict[str, Any], files: list[tuple[str, str]]
) -> None:
    # Streamed: each file goes through in chunks (into a multipart upload in a bucket), and
    # the zip appears under its key only once complete. PNGs are already deflated: storing
    # them is as small and far faster.
    with (
        storage.open_writer(target) as out,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive,
    ):
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        for key, name in files:
            chunks = storage.read_chunks(key)
            try:
                first = next(chunks, b"")  # a missing file fails here, before its entry
            except FileNotFoundError:
                continue
            with archive.open(name, "w") as entry:
                entry.write(first)
                for chunk in chunks:
                    entry.write(chunk)
