"""Outbound allow-list and SSRF guard: which hosts the hub may call.

A configured URL is checked when configs are checked AND again before every request, because
a DNS name may resolve to a different (internal) address later (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from urllib.parse import urlsplit

from hub.adapters.errors import BlockedHost

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[str]]

# Cloud metadata endpoints: refused unless the exact address is listed.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),
}


def system_resolver(host: str) -> list[str]:
    """All addresses the system resolver returns for host (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BlockedHost(f"无法解析主机名 (cannot resolve host) {host}: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


@lru_cache(maxsize=4096)
def _is_internal(addr: Address) -> bool:
    return (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_unspecified
        or addr in METADATA
    )


@lru_cache(maxsize=4096)
def _ip(text: str) -> Address | None:
    """The address a literal stands for (None for a name); cached, as every request asks."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _networks_of(patterns: Iterable[str]) -> Iterable[Network]:
    for pattern in patterns:
        try:
            yield ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            continue


@dataclass(frozen=True)
class AllowList:
    """Host patterns: exact names, `*.suffix` wildcards, IP addresses and CIDR ranges."""

    patterns: tuple[str, ...] = ()
    allow_private: bool = False
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_env(cls, resolver: Resolver = system_resolver) -> AllowList:
        raw = os.environ.get("HUB_ALLOWED_HOSTS", "")
        patterns = tuple(p.strip().lower() for p in raw.split(",") if p.strip())
        return cls(patterns, os.environ.get("HUB_ALLOW_PRIVATE") == "1", resolver)

    @cached_property
    def _networks(self) -> tuple[Network, ...]:
        """The patterns that are addresses or ranges, parsed once."""
        return tuple(_networks_of(self.patterns))

    def _listed_exactly(self, host: str) -> bool:
        addr = _ip(host)
        if addr is not None:
            return any(addr in net for net in self._networks)
        return host in self.patterns

    def _matches(self, host: str) -> bool:
        if self._listed_exactly(host):
            return True
        return any(p.startswith("*.") and host.endswith(p[1:]) for p in self.patterns)

    def check_host(self, host: str) -> list[str]:
        """Refuse a host not listed, or one that resolves to an internal address not allowed.

        Returns the resolved addresses (useful for logs)."""
        host = host.lower().rstrip(".")
        if not host:
            raise BlockedHost("URL 缺少主机名 (URL has no host)")
        if not self._matches(host):
            raise BlockedHost(
                f"主机 {host} 不在出站白名单中 (host not on the allow-list HUB_ALLOWED_HOSTS)"
            )
        literal = _ip(host)
        addresses = [str(literal)] if literal is not None else self.resolver(host)
        for text in addresses:
            self.check_peer(host, text)
        return addresses

    def check_peer(self, host: str, address: str) -> None:
        """Is `address` acceptable for host? Also called on the connected socket's peer, so a
        name that re-resolves inward between check and connect (rebinding) is still refused."""
        host = host.lower().rstrip(".")
        addr = _ip(address.split("%", 1)[0])
        if addr is None:
            raise BlockedHost(f"主机 {host} 的地址无法识别 (not an IP address): {address}")
        if addr in METADATA and not any(addr in net for net in self._networks):
            raise BlockedHost(
                f"主机 {host} 解析到云元数据地址 {addr} (resolves to a metadata address)"
            )
        if _is_internal(addr) and not (self._listed_exactly(host) or self.allow_private):
            raise BlockedHost(
                f"主机 {host} 解析到内网/回环地址 {addr}，未被明确允许 "
                "(resolves to a private/loopback address; list it explicitly "
                "or set HUB_ALLOW_PRIVATE=1)"
            )

    def check_url(self, url: str) -> None:
        """Only http(s) URLs to allowed hosts pass."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise BlockedHost(f"不允许的 URL 协议 (scheme not allowed): {parts.scheme or url}")
        self.check_host(parts.hostname or "")
