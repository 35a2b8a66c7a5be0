"""The one settings class: every knob of pagemill, read from PAGEMILL_* environment variables."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
WHSEC = "whsec_"


def _is_whsec(value: str) -> bool:
    """True for a Standard Webhooks secret: whsec_ and at least 16 bytes of base64."""
    if not value.startswith(WHSEC):
        return False
    try:
        key = base64.b64decode(value[len(WHSEC) :], validate=True)
    except binascii.Error:
        return False
    return len(key) >= 16


class Settings(BaseSettings):
    """pagemill's settings; see the README for what each one does."""

    model_config = SettingsConfigDict(env_prefix="PAGEMILL_", extra="ignore")

    # Serving
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""  # base of absolute URLs; empty: the request's Host, if allowed
    # Host names a request may use when public_url is empty ("*": any, reflected in URLs)
    allowed_hosts: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1", "::1"])
    storage_dir: Path = Path("scratch")
    storage_url: str = ""  # unset or a path: local files; s3://BUCKET[/PREFIX]: object storage
    s3_endpoint_url: str = ""  # unset: AWS; else MinIO, Ceph, R2...
    s3_public_endpoint_url: str = ""  # the endpoint clients reach, for presigning; unset: above
    presign_seconds: int = 3600  # lifetime of presigned download URLs
    database_url: str = ""  # empty: SQLite under storage_dir
    redis_url: str = ""  # empty: embedded default (in-memory broker, in-process events)
    redis_prefix: str = "pagemill"  # namespaces every Redis key and channel
    graphiql: bool = True
    introspection: bool = True
    allowed_origins: list[str] = Field(default_factory=list)  # cross-origin browser apps
    api_tokens: list[str] = Field(default_factory=list)  # empty: no authentication
    admin_tokens: list[str] = Field(default_factory=list)
    # The HTTP exchange (uvicorn): a request's head, its body's pace, connections at once
    max_header_bytes: int = 32 * 1024  # request line and headers; more: 431
    header_timeout: float = 10.0  # seconds for a request's head, from its first byte
    body_timeout: float = 30.0  # seconds a body may take, plus 1 s per body_min_rate bytes
    body_min_rate: int = 1024  # bytes/s a slow body must keep up past body_timeout
    max_connections: int = 2048  # per process (WebSockets included); past it: 503
    keep_alive_timeout: float = 5.0  # idle seconds before a kept-alive connection closes
    log_level: str = "INFO"
    log_json: bool = False  # JSON lines with upload and document ids instead of text

    # Conversion
    max_side: int = 3500  # pages fit within max_side x max_side
    max_density: int = 300  # dpi cap for PDF pages
    # 0-3: ISA-L's deflate levels (pagemill's own PNG writer); 4-9: zlib's
    png_compression_level: int = 2
    png_filter: int = 2  # image pages: 0-4 one PNG row filter for every row (2: Up), 5 adaptive
    pdf_png_filter: int = 0  # PDF pages: the same choices; none is fastest on rendered pages
    image_engine: Literal["vips", "wand"] = "vips"  # what converts PNGs and JPEGs
    pdf_engine: Literal["pdfium", "ghostscript"] = "pdfium"  # what rasterises PDF pages
    thread_limit: int = 1  # libvips / ImageMagick threads per conversion process
    document_timeout: float = 300.0  # seconds per document, child killed on expiry
    memory_limit_mb: int = 512  # hard address-space cap of a conversion child
    magick_memory_mb: int = 256  # ImageMagick pixel cache in RAM before spilling
    magick_disk_mb: int = 1024
    office_timeout: float = 120.0  # seconds for LibreOffice to make an office document's PDF
    office_memory_limit_mb: int = 2048  # address-space cap of each LibreOffice instance
    office_recycle_after: int = 50  # a LibreOffice instance is replaced after this many documents
    office_python: str = "/usr/bin/python3"  # a Python that can `import uno` (python3-uno)
    child_max_jobs: int = 100  # a warm conversion child is replaced after this many documents
    max_attempts: int = 2  # conversions killed by limits or crashes are retried this often
    embedded_concurrency: int = 2  # documents in flight at once in the embedded default
    # Conversion children (or LibreOffice instances) one process runs at once, each a core's
    # worth of CPU work; 0: the host's usable cores shared among `pagemill worker --processes`.
    worker_children: int = Field(default=0, ge=0)
    # Messages one worker process handles at once: while one document's child converts, the
    # others make their database and Redis round trips or wait for a free conversion slot.
    # 0: twice the process's conversion slots.
    worker_concurrency: int = Field(default=0, ge=0)
    # A PDF of more than range_threshold pages is rendered as ranges of range_pages pages,
    # each its own queued task, so every free worker takes part (0: never split).
    range_pages: int = Field(default=16, ge=0)
    range_threshold: int = Field(default=32, ge=1)

    # Limits on input
    max_file_bytes: int = 200 * MiB
    max_request_bytes: int = 1024 * MiB
    max_files: int = 1000
    max_batch_size: int = Field(default=10, ge=1)  # operations in one batched GraphQL request
    max_pixels: int = 200_000_000  # width*height of an input image (decompression bombs)
    max_image_side: int = 50_000
    max_pages: int = 2000
    max_page_points: float = 14_400.0  # 200 inches, PDF's own maximum user-space size
    # Most a GraphQL operation may cost: fields times the most items of the lists above them.
    # Any one upload's status (1.4e7 with every page field) and a listing of 20 uploads with
    # their pages (1.6e8) pass; 30 aliases of a 100-upload listing (6e9) do not.
    max_query_cost: int = 200_000_000
    max_zip_entries: int = 1000  # files per zip; skipped metadata entries do not count
    max_zip_bytes: int = 2048 * MiB  # total uncompressed size of one zip
    max_zip_ratio: float = 200.0  # bytes a zip's entries expand to / the zip's own size
    max_expanded_bytes: int = 4096 * MiB  # all zips of one request expand to no more
    zip_legacy_encoding: str = "cp437"  # entry names without the UTF-8 flag that are not UTF-8
    storage_min_free_mb: int = 1024  # /readyz fails when the storage volume has less free

    # Dedupe, idempotency, leases
    dedupe_window: float = 300.0
    idempotency_ttl: float = 24 * 3600.0
    lease_seconds: float = 30.0
    sweep_interval: float = 10.0
    drain_seconds: float = 30.0  # on SIGTERM, running conversions get this long to finish
    recycle_after: int = 2000  # a worker process is replaced after this many task messages
    subscription_max_seconds: float = 3600.0

    # Webhooks
    webhook_secret: str = ""  # whsec_<base64>; empty: uploads with a webhook URL are refused
    webhook_allow_private: bool = False  # deliver to loopback/private/link-local addresses too
    # Seconds before each retry of a failed delivery (jittered +-20%); then it is given up.
    webhook_retry_schedule: list[float] = Field(
        default_factory=lambda: [5.0, 60.0, 300.0, 1800.0, 7200.0, 18000.0]
    )
    webhook_timeout: float = 10.0  # seconds for one delivery attempt, connect to last byte
    webhook_poll_interval: float = 2.0  # how often each worker looks for due retries

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: str) -> str:
        if value and not _is_whsec(value):
            raise ValueError("PAGEMILL_WEBHOOK_SECRET must be whsec_ followed by base64")
        return value

    @property
    def db_url(self) -> str:
        """The Tortoise database URL, SQLite under the storage directory by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite://{(self.storage_dir / 'pagemill.sqlite3').resolve()}"

    @property
    def distributed(self) -> bool:
        """True when Redis carries tasks and events between processes."""
        return bool(self.redis_url)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
