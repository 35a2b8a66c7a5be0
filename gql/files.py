"""Plain HTTP: file downloads, health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from tortoise import Tortoise
from tortoise.functions import Count

from gql import metrics as metrics_module
from gql.principals import owner_filter, sees_all
from gql.security import request_principal
from models.upload import DeliveryStatus, Document, ErrorCode, Status, Upload, WebhookDelivery
from settings import MiB, Settings
from tasks.storage import ObjectStore, keys

logger = logging.getLogger(__name__)

MEDIA_TYPES = {
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".zip": "application/zip",
    ".json": "application/json",
}
DOCUMENTS = Gauge("pagemill_documents", "Documents by status", ["status"])
FAILED = Gauge("pagemill_documents_failed", "FAILED documents by error code", ["error_code"])
WEBHOOK_DELIVERIES = Gauge(
    "pagemill_webhook_deliveries", "Webhook delivery attempts by outcome", ["status"]
)
READY_TIMEOUT = 3.0


def build_router(settings: Settings, storage: ObjectStore) -> APIRouter:
    """Routes for downloads (/files/...), /healthz, /readyz and /metrics."""
    router = APIRouter()

    @router.get("/files/{path:path}", include_in_schema=False)
    async def download(request: Request, path: str) -> Response:
        # Only keys under uploads/ are public (the root also holds the SQLite database and
        # tmp/); "..", absolute and malformed keys are refused before any lookup.
        if not keys.is_public(path) or not await _visible(request, path.split("/")[1]):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        url = await storage.download_url(path)
        if url is not None:  # object storage: the client fetches it from the bucket
            return RedirectResponse(url, status_code=307)
        return _serve_local(storage, path)

    async def _visible(request: Request, upload_dir: str) -> bool:
        """Whether the caller may download the files of the upload in `upload_dir`."""
        principal = request_principal(request, settings)
        if sees_all(principal):
            return True
        try:
            upload_id = UUID(upload_dir)
        except ValueError:
            return False
        return await Upload.exists(owner_filter(principal), id=upload_id)

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = await readiness(settings, storage)
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        await _refresh_gauges()
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _serve_local(storage: ObjectStore, key: str) -> Response:
    # local_path() refuses symlinks that leave the storage root; only uploads/ is served.
    target = storage.local_path(key)
    if target is None or storage.scratch / "uploads" not in target.parents:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    media_type = MEDIA_TYPES.get(target.suffix.lower(), "application/octet-stream")
    headers = {"X-Content-Type-Options": "nosniff"}
    if media_type in ("application/octet-stream", "application/zip"):
        headers["Content-Disposition"] = f'attachment; filename="{target.name}"'
    return FileResponse(target, media_type=media_type, headers=headers)


async def readiness(settings: Settings, storage: ObjectStore) -> dict[str, str]:
    """Each dependency's state: "ok" or what went wrong."""
    checks: dict[str, str] = {}
    checks["database"] = await _check(_check_db())
    if settings.redis_url:
        checks["redis"] = await _check(_check_redis(settings.redis_url))
    checks["storage"] = await _check(storage.check())
    checks["storage_space"] = await asyncio.to_thread(free_space, storage, settings)
    return checks


def free_space(storage: ObjectStore, settings: Settings) -> str:
    """ "ok", or how little space is left (below storage_min_free_mb) on the local volume that
    takes uploads and pages (the storage root, or a bucket's local scratch space)."""
    try:
        free = shutil.disk_usage(storage.scratch).free // MiB
    except OSError as exc:
        return f"error: {type(exc).__name__}"
    if free < settings.storage_min_free_mb:
        return f"low: {free} MiB free, the minimum is {settings.storage_min_free_mb} MiB"
    return "ok"


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        logger.warning("readiness check failed: %r", exc)
        return f"error: {type(exc).__name__}"
    return "ok"


async def _check_db() -> None:
    await Tortoise.get_connection("default").execute_query("SELECT 1")


async def _check_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _refresh_gauges() -> None:
    try:
        for status in Status:
            DOCUMENTS.labels(status=status.value).set(await Document.filter(status=status).count())
        rows = (
            await Document.filter(status=Status.FAILED)
            .annotate(n=Count("id"))
            .group_by("error_code")
            .values_list("error_code", "n")
        )
        found = {str(code): int(n) for code, n in rows if code}
        for code in ErrorCode:
            FAILED.labels(error_code=code.value).set(found.get(code.value, 0))
        counted = (
            await WebhookDelivery.annotate(n=Count("id"))
            .group_by("status")
            .values_list("status", "n")
        )
        by_status = {str(status): int(n) for status, n in counted}
        for outcome in DeliveryStatus:
            WEBHOOK_DELIVERIES.labels(status=outcome.value).set(by_status.get(outcome.value, 0))
        await metrics_module.refresh()
    except Exception:  # noqa: BLE001 - metrics must answer even with the database down
        logger.warning("could not read document counts for /metrics", exc_info=True)
