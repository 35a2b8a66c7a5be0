"""DataLoaders: one query per level of a listing, however many uploads it shows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from gql.internals import raw_info
from gql.webhooks import deliveries_by_upload
from models.upload import Document, Page, Upload, WebhookDelivery


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
    deliveries_by_upload: DataLoader[UUID, list[WebhookDelivery]] = field(
        default_factory=lambda: DataLoader(load_fn=deliveries_by_upload)
    )


def _selects(nodes: Iterable[Any], fragments: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Whether these selection nodes ask for the fields along path (through fragments)."""
    if not path:
        return True
    for node in nodes:
        inner: Iterable[Any] = ()
        rest = path
        if isinstance(node, FieldNode) and node.name.value == path[0] and node.selection_set:
            inner, rest = node.selection_set.selections, path[1:]
        elif isinstance(node, InlineFragmentNode):
            inner = node.selection_set.selections
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
            inner = fragments[node.name.value].selection_set.selections
        if inner and _selects(inner, fragments, rest):
            return True
    return False


async def prefetch(info: Info[Any, None], upload: Upload) -> None:
    """Load the documents and pages one upload's selection asks for, in this resolver,
    and hand them to the loaders: the fields then resolve at once, without a batch each."""
    # The query's own AST: strawberry's selected_fields converts the whole tree per call.
    raw = raw_info(info)
    selected = [
        node
        for field in raw.field_nodes
        if field.selection_set is not None
        for node in field.selection_set.selections
    ]
    if not _selects(selected, raw.fragments, ("documents",)):
        return
    loaders: Loaders = info.context.loaders
    documents = await Document.filter(upload_id=upload.id).order_by("index")
    loaders.documents_by_upload.prime(upload.id, documents)
    if _selects(selected, raw.fragments, ("documents", "pages")):
        for document_id, pages in zip(
            (d.id for d in documents),
            await _pages_by_document([d.id for d in documents]),
            strict=True,
        ):
            loaders.pages_by_document.prime(document_id, pages)
