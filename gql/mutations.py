"""Mutation root: create and cancel uploads, retry documents, pause and resume processing."""

from __future__ import annotations

import logging

import strawberry
from starlette.datastructures import UploadFile
from strawberry.types import Info

from gql.context import Context
from gql.errors import Forbidden, rejections
from gql.principals import owner_filter
from gql.queries import parse_id
from gql.status_types import ProcessingState
from gql.types import Document, Upload
from tasks.service import control, intake, uploads, webhooks

logger = logging.getLogger(__name__)


def _require_admin(ctx: Context) -> None:
    if not ctx.is_admin:
        raise Forbidden("An admin token is required")


def _state(state: control.ProcessingState) -> ProcessingState:
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
        webhook_url: str | None = None,
    ) -> Upload:
        ctx = info.context
        owner = ctx.principal.owner if ctx.principal else None
        with rejections():
            hook = await webhooks.subscriber(webhook_url, ctx.base_url, ctx.settings)
            row = await intake.accept_upload(
                files, idempotency_key, ctx.get_storage(), ctx.settings, owner, hook
            )
        return Upload.from_model(row, ctx)

    @strawberry.mutation(description="Cancel the open documents of an upload; null if unknown")
    async def cancel_upload(self, info: Info[Context, None], id: strawberry.ID) -> Upload | None:
        row = await uploads.cancel(parse_id(id), owner_filter(info.context.principal))
        return Upload.from_model(row, info.context) if row else None

    @strawberry.mutation(
        description="Convert a FAILED or CANCELLED document again (attempts reset); its upload "
        "is back in progress"
    )
    async def retry_document(self, info: Info[Context, None], id: strawberry.ID) -> Document | None:
        mine = owner_filter(info.context.principal, "upload__")
        with rejections():
            row = await uploads.retry(parse_id(id), mine)
        return Document.from_model(row, info.context) if row else None

    @strawberry.mutation(
        description="Send the upload's latest webhook event again (the same webhook-id); "
        "null if the upload is unknown"
    )
    async def redeliver_webhook(
        self, info: Info[Context, None], upload_id: strawberry.ID
    ) -> Upload | None:
        _require_admin(info.context)
        with rejections():
            row = await webhooks.redeliver(parse_id(upload_id))
        return Upload.from_model(row, info.context) if row else None

    @strawberry.mutation(description="Stop workers from starting new documents")
    async def pause_processing(self, info: Info[Context, None]) -> ProcessingState:
        _require_admin(info.context)
        return _state(await control.pause(info.context.settings))

    @strawberry.mutation(description="Let workers start new documents again")
    async def resume_processing(self, info: Info[Context, None]) -> ProcessingState:
        _require_admin(info.context)
        return _state(await control.resume(info.context.settings))
