"""Who is calling: a principal per bearer token, and which uploads each principal may see.

A token entry is `name:token` (the principal is `name`) or a bare token, as before names
existed (its principal is named after a fingerprint of the token). Uploads belong to the
principal whose token created them; admin tokens see every upload. With no tokens
configured the API is open: there is one anonymous principal, and it is an admin.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

from tortoise.expressions import Q

from settings import Settings

NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


@dataclass(frozen=True)
class Principal:
    """The caller behind a token (or the anonymous caller when tokens are off)."""

    name: str | None  # None: tokens are off
    admin: bool

    @property
    def owner(self) -> str | None:
        """The owner recorded on the uploads this principal creates."""
        return self.name


ANONYMOUS = Principal(name=None, admin=True)


def split_entry(entry: str) -> tuple[str, str]:
    """(principal name, token) of one configured token entry."""
    name, sep, token = entry.partition(":")
    if sep and token and NAME.fullmatch(name):
        return name, token
    fingerprint = hashlib.sha256(entry.encode()).hexdigest()[:12]
    return f"token-{fingerprint}", entry


@lru_cache(maxsize=16)
def _entries(api: tuple[str, ...], admin: tuple[str, ...]) -> tuple[tuple[str, str, bool], ...]:
    """(token, name, admin) for every configured entry, admin tokens first."""
    return tuple(
        (token, name, is_admin)
        for entries, is_admin in ((admin, True), (api, False))
        for name, token in map(split_entry, entries)
    )


def tokens_enabled(settings: Settings) -> bool:
    """True when the API requires bearer tokens."""
    return bool(settings.api_tokens or settings.admin_tokens)


def principal_of(token: str | None, settings: Settings) -> Principal | None:
    """The principal a token names; None for no or an unknown token (anonymous when tokens
    are off)."""
    if not tokens_enabled(settings):
        return ANONYMOUS
    if token is None:
        return None
    found: Principal | None = None
    # Compare against every entry so timing does not reveal which one matched.
    for candidate, name, admin in _entries(
        tuple(settings.api_tokens), tuple(settings.admin_tokens)
    ):
        if hmac.compare_digest(token.encode(), candidate.encode()) and found is None:
            found = Principal(name=name, admin=admin)
    return found


def sees_all(principal: Principal | None) -> bool:
    """True for callers who see every upload (admins, and everyone when tokens are off)."""
    return principal is not None and principal.admin


def may_see(principal: Principal | None, owner: str | None) -> bool:
    """Whether the principal may see an upload owned by `owner`."""
    if principal is None:
        return False
    return principal.admin or (owner is not None and owner == principal.name)


def owner_filter(principal: Principal | None, path: str = "") -> Q:
    """Tortoise filter keeping the rows the principal may see; `path` leads to the upload
    (e.g. "upload__" from a document)."""
    if sees_all(principal):
        return Q()
    # An unknown principal matches nothing: no upload is owned by the empty name.
    name = principal.name if principal is not None else None
    return Q(**{f"{path}owner": name or ""})
