"""The SSRF guard and the signer, without a database: address rules, DNS-rebinding refusal at
delivery time, pinned connections, and the Standard Webhooks published test vector."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from avsb.server.config import Settings
from avsb.server.webhooks import netguard, signing
from avsb.server.webhooks.sender import Message, RetryPolicy, Sender

from .receiver import Receiver


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.0.9",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.251",
        "239.1.1.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "2002:a00:1::1",
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
        "not-an-address",
    ],
)
def test_address_allowed__non_public__false(address: str) -> None:
    assert netguard.address_allowed(address) is False


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_address_allowed__public__true(address: str) -> None:
    assert netguard.address_allowed(address) is True


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://93.184.215.14/x", True),
        ("http://[2606:4700:4700::1111]:8080/x", True),
        ("http://localhost/x", False),
        ("http://[::ffff:7f00:1]/x", False),
        ("gopher://93.184.215.14/x", False),
        ("https:///x", False),
    ],
)
def test_vet_url__literal_and_local_hosts(url: str, allowed: bool) -> None:
    if allowed:
        netguard.vet_url(url, allow_private=False)
    else:
        with pytest.raises(netguard.DestinationRefused):
            netguard.vet_url(url, allow_private=False)


def test_vet_url__private_allowed_by_setting__accepted() -> None:
    assert netguard.vet_url("http://127.0.0.1:9/x", allow_private=True).port == 9


def _resolver(table: dict[str, list[str]]) -> netguard.Resolver:
    async def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


def _pin(url: str, table: dict[str, list[str]], allow_private: bool = False) -> str:
    target = netguard.parse(url)
    return asyncio.run(netguard.pin(target, allow_private=allow_private, resolver=_resolver(table)))


def test_pin__public_name__first_vetted_address() -> None:
    table = {"hooks.example.com": ["93.184.215.14", "2606:4700:4700::1111"]}
    assert _pin("https://hooks.example.com/x", table) == "93.184.215.14"


@pytest.mark.parametrize(
    "addresses", [["127.0.0.1"], ["93.184.215.14", "10.0.0.8"], ["::ffff:169.254.169.254"]]
)
def test_pin__name_resolving_to_private__refused(addresses: list[str]) -> None:
    with pytest.raises(netguard.DestinationRefused, match="resolves to"):
        _pin("https://rebind.example.com/x", {"rebind.example.com": addresses})


def test_pin__unresolvable__refused() -> None:
    with pytest.raises(netguard.DestinationRefused, match="Cannot resolve"):
        _pin("https://nowhere.example.com/x", {})


def test_pinned_request_args__https__name_kept_for_host_and_sni() -> None:
    target = netguard.parse("https://hooks.example.com:8443/in?a=1")
    url, headers, extensions = netguard.pinned_request_args(target, "2606:4700:4700::1111")
    assert str(url) == "https://[2606:4700:4700::1111]:8443/in?a=1"
    assert headers == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}


def _settings(**overrides: Any) -> Settings:
    return Settings(webhook_timeout_seconds=5.0, **overrides)


async def _send(settings: Settings, resolver: netguard.Resolver, url: str) -> Any:
    async with Sender(settings, resolver=resolver) as sender:
        message = Message("whd_test", url, signing.new_secret(), '{"type":"webhook.test"}')
        return await sender.send(message)


def test_send__name_rebound_to_loopback__refused_without_connecting() -> None:
    with Receiver() as receiver:
        resolver = _resolver({"hooks.example.com": ["127.0.0.1"]})
        url = f"http://hooks.example.com:{receiver.port}/hook"

        result = asyncio.run(_send(_settings(), resolver, url))

        assert result.status_code is None
        assert result.error is not None
        assert result.error.startswith("destination refused")
        assert receiver.received == []


def test_send__pinned_address__connects_there_with_original_host() -> None:
    with Receiver([202]) as receiver:
        # The name does not exist in DNS: only the pinned address can reach the receiver.
        resolver = _resolver({"hooks.avsb.invalid": ["127.0.0.1"]})
        url = f"http://hooks.avsb.invalid:{receiver.port}/hook"

        result = asyncio.run(_send(_settings(webhooks_allow_private_networks=True), resolver, url))

        assert result.status_code == 202, result.error
        assert result.response_excerpt == "status 202"
        assert receiver.received[0].headers["host"] == f"hooks.avsb.invalid:{receiver.port}"


def test_send__redirect__not_followed() -> None:
    with Receiver([302]) as receiver:
        resolver = _resolver({})
        result = asyncio.run(
            _send(_settings(webhooks_allow_private_networks=True), resolver, receiver.url())
        )
        assert result.status_code == 302
        assert result.ok is False
        assert len(receiver.received) == 1


def test_sign__standard_webhooks_vector() -> None:
    signature = signing.sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_retry_policy__schedule_then_done__jitter_bounded() -> None:
    policy = RetryPolicy((10.0, 100.0), jitter=0.2)
    delays = [policy.delay(1) for _ in range(50)]
    assert all(d is not None and 8.0 <= d <= 12.0 for d in delays)
    assert len(set(delays)) > 1
    second = policy.delay(2)
    assert second is not None
    assert 80.0 <= second <= 120.0
    assert policy.delay(3) is None


def test_retry_policy__default_schedule__about_a_day() -> None:
    schedule = Settings().webhook_retry_schedule_seconds
    assert schedule[0] <= 10
    assert all(b > a for a, b in itertools.pairwise(schedule[:-1]))
    assert 20 * 3600 <= sum(schedule) <= 30 * 3600
