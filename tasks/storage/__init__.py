"""Where originals, pages and archives are stored (layer 1): the local-directory backend."""

from tasks.storage.local import LocalStorage

__all__ = ["LocalStorage"]
