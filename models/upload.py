"""Uploads, their documents, pages and progress events: the state pagemill keeps (one module
over 250 lines: aerich and Tortoise read every model of the app from this one module)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

# PostgreSQL text cannot hold NUL, which multipart filenames may carry: such a value (or one
# that starts with the marker) is stored as the marker plus its JSON form.
_ESCAPED = "\ufdd0"


class ClientText(fields.TextField):
    """Text from clients, kept exactly (NUL included) in any database."""

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if isinstance(value, str) and ("\x00" in value or value.startswith(_ESCAPED)):
            value = _ESCAPED + json.dumps(value)
        return super().to_db_value(value, instance)

    def to_python_value(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(_ESCAPED):
            return json.loads(value[len(_ESCAPED) :])
        return super().to_python_value(value)

    def describe(self, serializable: bool) -> dict[str, Any]:
        # Same column as TextField: keep aerich from seeing a changed field.
        return {**super().describe(serializable), "field_type": "TextField"}


class Status(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class ErrorCode(StrEnum):
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    CORRUPT_FILE = "CORRUPT_FILE"
    ENCRYPTED_PDF = "ENCRYPTED_PDF"
    ENCRYPTED_DOCUMENT = "ENCRYPTED_DOCUMENT"
    TOO_LARGE = "TOO_LARGE"
    UNSAFE_ARCHIVE = "UNSAFE_ARCHIVE"
    TIMEOUT = "TIMEOUT"
    RESOURCE_LIMIT = "RESOURCE_LIMIT"
    WORKER_CRASHED = "WORKER_CRASHED"
    STORAGE_FULL = "STORAGE_FULL"
    CANCELLED = "CANCELLED"
    INTERNAL = "INTERNAL"


class EventKind(StrEnum):
    SNAPSHOT = "SNAPSHOT"
    DOCUMENT_STARTED = "DOCUMENT_STARTED"
    PAGE_DONE = "PAGE_DONE"
    DOCUMENT_DONE = "DOCUMENT_DONE"
    DOCUMENT_FAILED = "DOCUMENT_FAILED"
    UPLOAD_DONE = "UPLOAD_DONE"


class Upload(Model):
    id = fields.UUIDField(primary_key=True)
    status = fields.CharEnumField(Status, max_length=16, default=Status.PENDING, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    finished_at = fields.DatetimeField(null=True)
    idempotency_key = fields.CharField(max_length=255, null=True, unique=True)
    document_count = fields.IntField(default=0)
    # Last progress-event sequence number handed out for this upload.
    sequence = fields.IntField(default=0)
    revision = fields.IntField(default=0)  # moves with every change no event records
    archive_path = fields.CharField(max_length=512, null=True)
    # The principal whose token created the upload; null when tokens were off.
    owner = fields.CharField(max_length=64, null=True, db_index=True)
    # Where terminal events are delivered (a checked http(s) URL), and the API base URL the
    # client used, for the download links in those events.
    webhook_url = fields.TextField(null=True)
    public_base = fields.CharField(max_length=512, null=True)
    # Archive entries that were metadata, not documents: {"archive", "filename", "reason"}.
    skipped_entries: Any = fields.JSONField(null=True)

    documents: fields.ReverseRelation[Document]
    events: fields.ReverseRelation[Event]
    webhook_deliveries: fields.ReverseRelation[WebhookDelivery]

    class Meta:
        table = "upload"


class Document(Model):
    id = fields.UUIDField(primary_key=True)
    upload: fields.ForeignKeyRelation[Upload] = fields.ForeignKeyField(
        "models.Upload", related_name="documents", on_delete=fields.CASCADE
    )
    index = fields.IntField()
    filename = ClientText()
    status = fields.CharEnumField(Status, max_length=16, default=Status.PENDING, db_index=True)
    content_type = fields.CharField(max_length=128, null=True)  # detected from the bytes
    size_bytes = fields.BigIntField(default=0)
    sha256 = fields.CharField(max_length=64, db_index=True)
    original_path = fields.CharField(max_length=512)
    page_count = fields.IntField(null=True)
    error_code = fields.CharEnumField(ErrorCode, max_length=32, null=True)
    error_message = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=128, null=True)
    lease_expires = fields.DatetimeField(null=True, db_index=True)
    deduplicated_from = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    # The conversion settings its pages are (to be) made with; None: never deduplicated.
    settings_fingerprint = fields.CharField(max_length=64, null=True)
    # PDF rendition of an office document (made by LibreOffice); None for other inputs.
    pdf_path = fields.CharField(max_length=512, null=True)

    upload_id: object
    pages: fields.ReverseRelation[Page]
    ranges: fields.ReverseRelation[DocumentRange]

    class Meta:
        table = "document"
        unique_together = (("upload", "index"),)


class Page(Model):
    id = fields.UUIDField(primary_key=True)
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "models.Document", related_name="pages", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    width = fields.IntField()
    height = fields.IntField()
    path = fields.CharField(max_length=512)
    size_bytes = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    document_id: object

    class Meta:
        table = "page"
        unique_together = (("document", "number"),)


class DocumentRange(Model):
    """Pages first..last of a big PDF, converted as a task of its own under its own lease."""

    id = fields.UUIDField(primary_key=True)
    document: fields.ForeignKeyRelation[Document] = fields.ForeignKeyField(
        "models.Document", related_name="ranges", on_delete=fields.CASCADE
    )
    first_page = fields.IntField()
    last_page = fields.IntField()
    status = fields.CharEnumField(Status, max_length=16, default=Status.PENDING, db_index=True)
    error_code = fields.CharEnumField(ErrorCode, max_length=32, null=True)
    error_message = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=128, null=True)
    lease_expires = fields.DatetimeField(null=True, db_index=True)
    finished_at = fields.DatetimeField(null=True)

    document_id: object

    class Meta:
        table = "document_range"
        unique_together = (("document", "first_page"),)


class Event(Model):
    """A committed progress event; kept so a subscriber that reconnects misses nothing."""

    id = fields.BigIntField(primary_key=True)
    upload: fields.ForeignKeyRelation[Upload] = fields.ForeignKeyField(
        "models.Upload", related_name="events", on_delete=fields.CASCADE
    )
    sequence = fields.IntField()
    kind = fields.CharEnumField(EventKind, max_length=32)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    upload_id: object

    class Meta:
        table = "event"
        unique_together = (("upload", "sequence"),)


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # due at next_attempt_at
    SENDING = "SENDING"  # claimed by a worker; due again at next_attempt_at if it dies
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"  # a later attempt is planned at next_attempt_at
    GAVE_UP = "GAVE_UP"  # failed, and no attempt is left


class WebhookDelivery(Model):
    """One attempt (made or planned) to deliver one webhook message of an upload.

    Every attempt of a message carries the same message id and body; the rows are both the
    delivery log and the retry schedule, so a retry survives any worker's death.
    """

    id = fields.UUIDField(primary_key=True)
    upload: fields.ForeignKeyRelation[Upload] = fields.ForeignKeyField(
        "models.Upload", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    message_id = fields.CharField(max_length=64, db_index=True)  # the webhook-id header
    event = fields.CharField(max_length=32)
    url = fields.TextField()
    body = fields.TextField(null=True)  # made at the first attempt, then sent unchanged
    attempt = fields.IntField()
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    http_status = fields.IntField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    next_attempt_at = fields.DatetimeField(null=True, db_index=True)

    upload_id: object

    class Meta:
        table = "webhook_delivery"


class WorkerState(Model):
    """Heartbeat row of one worker process, for the operators' live worker list."""

    id = fields.CharField(max_length=128, primary_key=True)
    host = fields.CharField(max_length=255)
    pid = fields.IntField()
    started_at = fields.DatetimeField()
    heartbeat_at = fields.DatetimeField(db_index=True)
    current_document = fields.UUIDField(null=True)
    conversions_done = fields.IntField(default=0)
    rss_bytes = fields.BigIntField(default=0)

    class Meta:
        table = "worker"


class Control(Model):
    """Cluster-wide switches, one row per name (e.g. processing paused)."""

    name = fields.CharField(max_length=64, primary_key=True)
    value = fields.CharField(max_length=255)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "control"
