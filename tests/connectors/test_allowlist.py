"""Outbound allow-list and SSRF guard, with an injected resolver (no real DNS needed)."""

from __future__ import annotations

import pytest

from hub.adapters.errors import BlockedHost
from hub.connectors.allowlist import AllowList


def resolving(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda _host: list(addresses)


PUBLIC = resolving("59.1.2.3")


@pytest.mark.parametrize(
    ("patterns", "url"),
    [
        (("*.gov.cn",), "https://oa.hb.gov.cn/x"),
        (("oa.example.com",), "http://OA.example.com:8080/"),
        (("59.1.2.0/24",), "http://59.1.2.3/"),
    ],
)
def test_listed_public_hosts_pass(patterns: tuple[str, ...], url: str) -> None:
    AllowList(patterns, resolver=PUBLIC).check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/",
        "https://gov.cn.evil.com/",
        "ftp://oa.hb.gov.cn/",
        "file:///etc/passwd",
    ],
)
def test_unlisted_hosts_and_schemes_refused(url: str) -> None:
    with pytest.raises(BlockedHost):
        AllowList(("*.gov.cn",), resolver=PUBLIC).check_url(url)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "::1", "fe80::1", "0.0.0.0"]
)
def test_wildcard_host_resolving_inward_refused(address: str) -> None:
    with pytest.raises(BlockedHost, match="private/loopback"):
        AllowList(("*.gov.cn",), resolver=resolving("59.1.2.3", address)).check_url(
            "https://oa.hb.gov.cn/"
        )


def test_internal_address_allowed_when_listed_explicitly() -> None:
    to_loopback = resolving("127.0.0.1")
    AllowList(("oa.hb.gov.cn",), resolver=to_loopback).check_url("https://oa.hb.gov.cn/")
    AllowList(("127.0.0.1",)).check_url("http://127.0.0.1:8101/")
    AllowList(("10.0.0.0/8",)).check_url("http://10.2.3.4/")
    AllowList(("*.gov.cn",), allow_private=True, resolver=to_loopback).check_url(
        "https://a.gov.cn/"
    )


def test_metadata_address_refused_even_with_allow_private() -> None:
    allow = AllowList(("*.gov.cn",), allow_private=True, resolver=resolving("169.254.169.254"))
    with pytest.raises(BlockedHost, match="metadata"):
        allow.check_url("http://meta.gov.cn/")


def test_real_resolver_localhost_refused_unless_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ALLOWED_HOSTS", "*.localhost, localhost")
    monkeypatch.delenv("HUB_ALLOW_PRIVATE", raising=False)
    AllowList.from_env().check_url("http://localhost:8000/")
    monkeypatch.setenv("HUB_ALLOWED_HOSTS", "*")
    with pytest.raises(BlockedHost):
        AllowList.from_env().check_url("http://localhost:8000/")
    monkeypatch.setenv("HUB_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("HUB_ALLOWED_HOSTS", "localhost")
    assert AllowList.from_env().allow_private


def test_request_time_check_sees_rebinding() -> None:
    answers = iter([["59.1.2.3"], ["127.0.0.1"]])
    allow = AllowList(("*.gov.cn",), resolver=lambda _h: next(answers))
    allow.check_url("https://oa.hb.gov.cn/")
    with pytest.raises(BlockedHost):
        allow.check_url("https://oa.hb.gov.cn/")
