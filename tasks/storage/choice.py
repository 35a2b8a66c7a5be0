"""Which backend this process uses: PAGEMILL_STORAGE_URL picks local files or a bucket."""

from __future__ import annotations

from pathlib import Path

from settings import Settings
from tasks.storage.backend import ObjectStore
from tasks.storage.local import LocalStorage
from tasks.storage.s3 import S3Storage


def is_object_storage(settings: Settings) -> bool:
    """True when files live in an S3-compatible bucket."""
    return settings.storage_url.startswith("s3://")


_OPEN: dict[tuple[object, ...], ObjectStore] = {}


def open_storage(settings: Settings) -> ObjectStore:
    """The configured backend, one per process (a bucket client keeps its connections)."""
    key = (settings.storage_url, settings.storage_dir, settings.s3_endpoint_url,
           settings.s3_public_endpoint_url, settings.presign_seconds)  # fmt: skip
    if key not in _OPEN:
        _OPEN[key] = _open(settings)
    return _OPEN[key]


def _open(settings: Settings) -> ObjectStore:
    # Unset or a path means local files (the embedded default).
    if is_object_storage(settings):
        return S3Storage(
            settings.storage_url,
            scratch=settings.storage_dir.resolve(),
            endpoint=settings.s3_endpoint_url or None,
            public_endpoint=settings.s3_public_endpoint_url or None,
            presign_seconds=settings.presign_seconds,
        )
    return LocalStorage(
        Path(settings.storage_url) if settings.storage_url else settings.storage_dir
    )
