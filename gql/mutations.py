"""Mutation root: create and cancel uploads, retry documents, pause and resume processing."""

from __future__ import annotations

import logging

import strawberry
from starlette.datastructures import UploadFile
from strawberry.types import Info

from gql import service
from gql.context import Context
from gql.errors import BadUserInput, Forbidden
from gql.principals import owner_filter
from gql.queries import parse_id
from gql.types import Document, ProcessingState, Upload
from models import upload as m
from tasks import control, pipeline
from tasks.convert import enqueue_documents

logger = logging.getLogger(__name__)


def _require_admin(ctx: Context) -> None:
    if not ctx.is_admin:
        raise Forbidden("An admin token is required")


async def _state(ctx: Context) -> ProcessingState:
    state = await control.processing_state(ctx.settings)
    return ProcessingState(
        paused=state.paused,
        pending_documents=state.queued,
        in_progress_documents=state.in_flight,
        active_workers=state.workers,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Upload files (zips by content are expanded); returns at once")
    async def create_upload(
        self,
        info: Info[Context, None],
        files: list[UploadFile],
        idempotency_key: str | None = None,
    ) -> Upload:
        ctx = info.context
        owner = ctx.principal.owner if ctx.principal else None
        row = await service.accept_upload(
            files, idempotency_key, ctx.get_storage(), ctx.settings, owner
        )
        return Upload.from_model(row, ctx)

    @strawberry.mutation(description="Cancel the open documents of an upload; null if unknown")
    async def cancel_upload(self, info: Info[Context, None], id: strawberry.ID) -> Upload | None:
        upload_id = parse_id(id)
        if not await m.Upload.exists(owner_filter(info.context.principal), id=upload_id):
            return None
        row = await service.cancel_upload(upload_id)
        return Upload.from_model(row, info.context) if row else None

    @strawberry.mutation(
        description="Convert a FAILED or CANCELLED document again (attempts reset); its upload "
        "is back in progress"
    )
    async def retry_document(self, info: Info[Context, None], id: strawberry.ID) -> Document | None:
        document_id = parse_id(id)
        mine = owner_filter(info.context.principal, "upload__")
        row = await m.Document.get_or_none(mine, id=document_id)
        if row is None:
            return None
        if not await pipeline.retry_document(document_id):
            raise BadUserInput(
                f"Document {document_id} is {row.status}: only FAILED or CANCELLED documents "
                "can be retried"
            )
        await enqueue_documents([document_id])
        row = await m.Document.get(id=document_id)
        return Document.from_model(row, info.context)

    @strawberry.mutation(description="Stop workers from starting new documents")
    async def pause_processing(self, info: Info[Context, None]) -> ProcessingState:
        _require_admin(info.context)
        await control.set_paused(True)
        return await _state(info.context)

    @strawberry.mutation(description="Let workers start new documents again")
    async def resume_processing(self, info: Info[Context, None]) -> ProcessingState:
        _require_admin(info.context)
        await control.set_paused(False)
        return await _state(info.context)
