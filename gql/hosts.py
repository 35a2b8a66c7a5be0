"""Which Host a request may name: absolute URLs are built from it, so it is never taken on
trust. With PAGEMILL_PUBLIC_URL set, URLs come from that and any Host is served; without
it, only the hosts in PAGEMILL_ALLOWED_HOSTS are ("*" allows any, and reflects it)."""

from __future__ import annotations

from urllib.parse import urlsplit

from settings import Settings

SHOWN = 64  # characters of a refused Host echoed back


def hostname(header: bytes) -> str | None:
    """The host name of a Host header, without port, lower-cased (IPv6 without brackets)."""
    try:
        return urlsplit("//" + header.decode("latin-1")).hostname
    except ValueError:  # a malformed port or bracket
        return None


def host_refusal(header: bytes, settings: Settings) -> str | None:
    """Why a request naming this Host is refused; None when it may be served."""
    # No Host at all (HTTP/1.0): URLs then come from the server's own address.
    if not header or settings.public_url or "*" in settings.allowed_hosts:
        return None
    name = hostname(header)
    if name is not None and name in settings.allowed_hosts:
        return None
    shown = header.decode("latin-1")[:SHOWN]
    return f"Host {shown!r} is not served here (not in the allowed hosts)"
