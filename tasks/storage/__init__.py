"""Where originals, pages and archives are stored (layer 1): a local directory or a bucket."""

from tasks.storage.backend import ObjectStore, StorageUnavailable
from tasks.storage.choice import is_object_storage, open_storage
from tasks.storage.local import LocalStorage

__all__ = ["LocalStorage", "ObjectStore", "StorageUnavailable", "is_object_storage", "open_storage"]
