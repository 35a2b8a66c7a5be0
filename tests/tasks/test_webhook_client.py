"""Webhook requests: signatures any Standard Webhooks receiver verifies, the SSRF rules, the
retry schedule, and one real POST to a loopback receiver."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tasks import webhook_client
from tasks.service.webhook_delivery import retry_delay
from tests.webhook_receiver import dead_url, new_secret, receiver

SECRET = new_secret()
OTHER = new_secret()
BODY = b'{"type":"upload.completed","data":{"uploadId":"x"}}'


def test_signature_verifies_with_the_standardwebhooks_package() -> None:
    headers = webhook_client.signed_headers(SECRET, "msg_1", BODY, datetime.now(UTC))
    assert Webhook(SECRET).verify(BODY, headers)["type"] == "upload.completed"


def test_signature_fails_with_a_wrong_secret_or_a_changed_body() -> None:
    headers = webhook_client.signed_headers(SECRET, "msg_1", BODY, datetime.now(UTC))
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY + b" ", headers)


def test_each_attempt_is_signed_with_its_own_timestamp_and_the_same_id() -> None:
    first = datetime.now(UTC) - timedelta(minutes=3)
    a = webhook_client.signed_headers(SECRET, "msg_1", BODY, first)
    b = webhook_client.signed_headers(SECRET, "msg_1", BODY, datetime.now(UTC))
    assert a["webhook-id"] == b["webhook-id"] == "msg_1"
    assert a["webhook-timestamp"] != b["webhook-timestamp"]
    assert a["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "example.com/hook",
        "http:///path",
        "http://user:pw@example.com/",
        "http://example.com:99999/",
        "x" * 3000,
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: str) -> None:
    with pytest.raises(webhook_client.UnsafeUrl):
        webhook_client.parse(url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("2002:7f00:1::", False),
        ("2002:808:808::", True),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b::808:808", True),
        ("2001:db8::1", False),
    ],
)
def test_only_public_unicast_addresses_are_deliverable(address: str, public: bool) -> None:
    assert webhook_client.is_public(address) is public


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/hook", "http://localhost:8080/", "https://[::1]/", "http://10.0.0.5"]
)
async def test_private_hosts_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(webhook_client.UnsafeUrl, match="loopback, private"):
        await webhook_client.check(url, allow_private=False)
    await webhook_client.check(url, allow_private=True)


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(webhook_client.UnsafeUrl, match="does not resolve"):
        await webhook_client.check("http://no-such-host.invalid/hook", allow_private=False)


def test_retry_schedule_is_jittered_and_ends() -> None:
    schedule = [5.0, 60.0, 300.0]
    rng = random.Random(7)
    delays = [retry_delay(n, schedule, rng) for n in (1, 2, 3, 4)]
    assert delays[3] is None
    for delay, base in zip(delays[:3], schedule, strict=True):
        assert delay is not None
        assert 0.8 * base <= delay <= 1.2 * base
    assert len({retry_delay(1, schedule) for _ in range(20)}) > 1


async def test_post_delivers_to_a_receiver_and_reports_its_status() -> None:
    headers = webhook_client.signed_headers(SECRET, "msg_2", BODY, datetime.now(UTC))
    with receiver(500, 204) as hook:
        first = await webhook_client.post(hook.url, headers, BODY, allow_private=True, timeout=5)
        second = await webhook_client.post(hook.url, headers, BODY, allow_private=True, timeout=5)
    assert (first.delivered, first.http_status) == (False, 500)
    assert (second.delivered, second.http_status) == (True, 204)
    got = hook.received[1]
    assert got.body == BODY
    assert got.headers["host"] == f"127.0.0.1:{hook.port}"
    assert Webhook(SECRET).verify(got.body, got.headers)


async def test_post_does_not_follow_redirects_or_reach_private_hosts() -> None:
    with receiver(302) as hook:
        redirected = await webhook_client.post(hook.url, {}, BODY, allow_private=True, timeout=5)
        refused = await webhook_client.post(hook.url, {}, BODY, allow_private=False, timeout=5)
    assert (redirected.delivered, redirected.http_status) == (False, 302)
    assert refused.http_status is None and "private" in (refused.error or "")
    assert len(hook.received) == 1


async def test_post_to_a_dead_receiver_is_an_error_not_an_exception() -> None:
    outcome = await webhook_client.post(dead_url(), {}, BODY, allow_private=True, timeout=5)
    assert not outcome.delivered
    assert outcome.http_status is None and outcome.error


async def test_post_connects_to_the_resolved_address_and_keeps_the_name_in_host() -> None:
    with receiver() as hook:
        url = f"http://localhost:{hook.port}/hook?x=1"
        outcome = await webhook_client.post(url, {}, BODY, allow_private=True, timeout=5)
    assert outcome.delivered
    assert hook.received[0].headers["host"] == f"localhost:{hook.port}"
    assert hook.received[0].path == "/hook?x=1"
