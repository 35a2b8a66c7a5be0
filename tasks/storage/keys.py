"""The storage layout: every key is built from ids, never from client filenames."""

from __future__ import annotations

from pathlib import PurePosixPath
from uuid import UUID

PUBLIC_PREFIX = "uploads/"  # only keys under it are ever served


def upload_prefix(upload_id: UUID) -> str:
    """Key prefix of one upload: its documents and its archive."""
    return f"{PUBLIC_PREFIX}{upload_id}/"


def document_prefix(upload_id: UUID, document_id: UUID) -> str:
    """Key prefix of one document: its original, its pages and its PDF rendition."""
    return f"{upload_prefix(upload_id)}{document_id}/"


def original_key(upload_id: UUID, document_id: UUID, ext: str) -> str:
    """Key of a document's original bytes."""
    return f"{document_prefix(upload_id, document_id)}original.{ext}"


def page_key(upload_id: UUID, document_id: UUID, number: int) -> str:
    """Key of page `number` (1-based) of a document."""
    return f"{document_prefix(upload_id, document_id)}pages/{number:04d}.png"


def archive_key(upload_id: UUID) -> str:
    """Key of an upload's zip of all pages."""
    return f"{upload_prefix(upload_id)}archive.zip"


def is_public(key: str) -> bool:
    """True for a well-formed key under uploads/ (no '..', no absolute or odd parts)."""
    if not key.startswith(PUBLIC_PREFIX) or any(c in key for c in "\\\x00"):
        return False
    parts = PurePosixPath(key).parts
    return len(parts) > 1 and not any(p in ("..", ".", "") for p in key.split("/"))
