"""DataLoaders: one query per level of a listing, however many uploads it shows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from strawberry.dataloader import DataLoader

from models.upload import Document, Page


async def _documents_by_upload(keys: Sequence[UUID]) -> list[list[Document]]:
    grouped: dict[UUID, list[Document]] = defaultdict(list)
    for doc in await Document.filter(upload_id__in=list(keys)).order_by("index"):
        grouped[UUID(str(doc.upload_id))].append(doc)
    return [grouped[key] for key in keys]


async def _pages_by_document(keys: Sequence[UUID]) -> list[list[Page]]:
    grouped: dict[UUID, list[Page]] = defaultdict(list)
    for page in await Page.filter(document_id__in=list(keys)).order_by("number"):
        grouped[UUID(str(page.document_id))].append(page)
    return [grouped[key] for key in keys]


@dataclass
class Loaders:
    """Per-request loaders (a fresh set per request keeps their caches short-lived)."""

    documents_by_upload: DataLoader[UUID, list[Document]] = field(
        default_factory=lambda: DataLoader(load_fn=_documents_by_upload)
    )
    pages_by_document: DataLoader[UUID, list[Page]] = field(
        default_factory=lambda: DataLoader(load_fn=_pages_by_document)
    )
