"""Outbound webhook requests: URL and address checks (SSRF), Standard Webhooks signing, one POST.

The host is resolved once per attempt, every address it resolves to is checked, and the
request connects to the checked address (the name only goes into Host and TLS SNI), so a DNS
answer that changes between the check and the connection cannot reach a private address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

MAX_URL_LENGTH = 2048
MAX_ERROR_LENGTH = 300  # of a failure's description kept in the delivery log
USER_AGENT = "pagemill-webhooks"
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix


class UnsafeUrl(ValueError):
    """The URL is not one pagemill delivers to (scheme, host, or where the host points)."""


@dataclass(frozen=True)
class Target:
    """A webhook URL split for delivery."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, at least "/"


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a 2xx status means delivered."""

    http_status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.http_status is not None and 200 <= self.http_status < 300


def parse(url: str) -> Target:
    """Split an http(s) URL with a host; UnsafeUrl otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the webhook URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("the webhook URL is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("the webhook URL must use http or https")
    if not parts.hostname:
        raise UnsafeUrl("the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the webhook URL must not carry credentials")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local,
    multicast, reserved or unspecified). An IPv6 address that carries an IPv4 one (mapped,
    6to4, NAT64) is judged by the IPv4 address it leads to."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _carried_ipv4(ip) or ip
    return ip.is_global and not ip.is_multicast


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


async def resolve(target: Target, allow_private: bool) -> list[str]:
    """The addresses the host resolves to, in resolver order, each of them checked."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"the webhook host {target.host!r} does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeUrl(f"the webhook host {target.host!r} does not resolve")
    if not allow_private and not all(is_public(address) for address in addresses):
        raise UnsafeUrl(
            f"the webhook host {target.host!r} resolves to a loopback, private, link-local, "
            "multicast or reserved address"
        )
    return list(dict.fromkeys(addresses))


async def check(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s), or whose host resolves to a private address."""
    target = parse(url)
    if not allow_private:
        await resolve(target, allow_private)


def signed_headers(secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (the timestamp is the attempt's)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


async def _first_answer(
    client: httpx.AsyncClient,
    target: Target,
    addresses: list[str],
    headers: dict[str, str],
    body: bytes,
) -> httpx.Response:
    request_headers = {**headers, "host": _host_header(target)}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    refused = httpx.ConnectError("no address to connect to")
    for address in addresses:
        try:
            url = _pinned_url(target, address)
            return await client.post(
                url, content=body, headers=request_headers, extensions=extensions
            )
        except httpx.ConnectError as exc:
            refused = exc
    raise refused


def _pinned_url(target: Target, address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{target.scheme}://{host}:{target.port}{target.path}"


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


async def post(
    url: str, headers: dict[str, str], body: bytes, *, allow_private: bool, timeout: float
) -> Outcome:
    """POST the body once, connecting only to checked addresses (the next one when one
    refuses the connection); never follows redirects."""
    try:
        target = parse(url)
        addresses = await resolve(target, allow_private)
    except UnsafeUrl as exc:
        return Outcome(None, str(exc))
    try:
        # A receiver that trickles bytes must not hold a worker: the whole attempt is bounded.
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as client,
        ):
            response = await _first_answer(client, target, addresses, headers, body)
    except TimeoutError:
        return Outcome(None, f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return Outcome(None, (f"{type(exc).__name__}: {exc}")[:MAX_ERROR_LENGTH])
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(response.status_code, f"the receiver answered {response.status_code}")
