"""Mutation root: create and cancel uploads, retry documents, pause and resume processing."""

from __future__ import annotations

import logging

import strawberry
from starlette.datastructures import UploadFile
from strawberry.types import Info

from gql.context import Context
from gql.errors import BadUserInput, Forbidden, PayloadTooLarge
from gql.files import DOCUMENTS_CREATED, UPLOADS_CREATED
from gql.queries import parse_id
from gql.types import Document, ProcessingState, Upload
from models import upload as m
from settings import Settings
from tasks import control, intake, pipeline
from tasks.convert import archive_upload, enqueue_documents, publish

logger = logging.getLogger(__name__)


def check_limits(files: list[UploadFile], settings: Settings) -> None:
    """Refuse the whole request before anything is stored (PAYLOAD_TOO_LARGE)."""
    if not files:
        raise BadUserInput("`files` must not be empty")
    if len(files) > settings.max_files:
        raise PayloadTooLarge(f"{len(files)} files; at most {settings.max_files} per request")
    total = 0
    for file in files:
        size = file.size or 0
        total += size
        if size > settings.max_file_bytes:
            raise PayloadTooLarge(
                f"{file.filename!r} has {size} bytes; the limit is {settings.max_file_bytes}"
            )
    if total > settings.max_request_bytes:
        raise PayloadTooLarge(f"{total} bytes in all; the limit is {settings.max_request_bytes}")


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
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
            raise BadUserInput("`idempotencyKey` must have 1 to 255 characters")
        check_limits(files, ctx.settings)
        if idempotency_key is not None:
            existing = await m.Upload.get_or_none(idempotency_key=idempotency_key)
            if existing is not None:
                return Upload.from_model(existing, ctx)
        storage = ctx.get_storage()
        incoming: list[intake.IncomingFile] = []
        try:
            for file in files:
                incoming.append(await intake.spool(file, storage, ctx.settings))
        except intake.TooLarge as exc:
            intake.discard(incoming)
            raise PayloadTooLarge(str(exc)) from None
        except BaseException:
            intake.discard(incoming)
            raise
        row = await intake.create_upload(incoming, idempotency_key, storage, ctx.settings)
        UPLOADS_CREATED.inc()
        DOCUMENTS_CREATED.inc(row.document_count)
        return Upload.from_model(row, ctx)

    @strawberry.mutation(description="Cancel the open documents of an upload; null if unknown")
    async def cancel_upload(self, info: Info[Context, None], id: strawberry.ID) -> Upload | None:
        upload_id = parse_id(id)
        if not await m.Upload.exists(id=upload_id):
            return None
        events = await pipeline.cancel_upload(upload_id)
        await publish(upload_id, events)
        if any(e["kind"] == m.EventKind.UPLOAD_DONE for e in events):
            await archive_upload.kiq(str(upload_id))
        row = await m.Upload.get(id=upload_id)
        return Upload.from_model(row, info.context)

    @strawberry.mutation(description="Convert a FAILED document again (attempts reset)")
    async def retry_document(self, info: Info[Context, None], id: strawberry.ID) -> Document | None:
        document_id = parse_id(id)
        row = await m.Document.get_or_none(id=document_id)
        if row is None:
            return None
        if not await pipeline.retry_document(document_id):
            raise BadUserInput(
                f"Document {document_id} is {row.status}: only FAILED documents of uploads "
                "that were not cancelled can be retried"
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
