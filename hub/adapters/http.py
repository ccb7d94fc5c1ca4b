"""One requests Session per connector that enforces the allow-list on every hop and caps
response size, shared by the REST adapter and the SOAP transport.

Redirects are followed by hand so each Location is checked against the allow-list.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any
from urllib.parse import urljoin

import requests
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError

from hub.adapters.errors import (
    BlockedHost,
    HttpStatusError,
    ResponseTooLarge,
    TransportFailed,
)
from hub.adapters.pinning import PeerCheckingAdapter
from hub.adapters.resilience import parse_retry_after
from hub.connectors.allowlist import AllowList
from hub.connectors.models import ConnectorConfig

CHUNK = 64 * 1024
#: What a hop may carry; anything else goes through requests' full Session.request.
_DIRECT = frozenset({"params", "data", "json", "headers", "timeout", "stream"})
log = logging.getLogger(__name__)


def read_capped(response: requests.Response, cap: int) -> bytes:
    """Read the body, stopping with ResponseTooLarge as soon as it passes cap bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        response.close()
        raise ResponseTooLarge(f"响应超过上限 {cap} 字节 (response over the {cap}-byte cap)")
    body = bytearray()
    for chunk in response.raw.stream(CHUNK, decode_content=True):
        body += chunk
        if len(body) > cap:
            response.close()
            raise ResponseTooLarge(f"响应超过上限 {cap} 字节 (response over the {cap}-byte cap)")
    return bytes(body)


class GuardedSession(requests.Session):
    """A Session whose every request (and redirect hop) passes the allow-list and size cap."""

    def __init__(
        self,
        allow: AllowList,
        max_bytes: int,
        max_redirects: int,
        retry_errors: Collection[str] = ("timeout", "connection"),
    ) -> None:
        super().__init__()
        self.retry_errors = set(retry_errors)
        self.allow = allow
        self.max_bytes = max_bytes
        self.max_redirects_allowed = max_redirects
        self.trust_env = False  # proxies from the environment would bypass the allow-list
        for prefix in ("http://", "https://"):
            self.mount(prefix, PeerCheckingAdapter(allow))

    def request(  # type: ignore[override]
        self, method: str, url: str, **kwargs: Any
    ) -> requests.Response:
        kwargs.pop("allow_redirects", None)
        kwargs["stream"] = True
        for _hop in range(self.max_redirects_allowed + 1):
            self.allow.check_url(url)
            try:
                response = self._hop(method, url, kwargs)
            except requests.ConnectTimeout as exc:
                raise TransportFailed(
                    f"连接超时 (connect timeout): {url}",
                    retryable="timeout" in self.retry_errors,
                    unsent=True,
                ) from exc
            except requests.Timeout as exc:
                raise TransportFailed(
                    f"请求超时 (timeout): {url}", retryable="timeout" in self.retry_errors
                ) from exc
            except requests.ConnectionError as exc:
                raise TransportFailed(
                    f"连接失败 (connection failed): {url}",
                    retryable="connection" in self.retry_errors,
                    unsent=_never_connected(exc),
                ) from exc
            if not response.is_redirect:
                response._content = read_capped(response, self.max_bytes)
                return response
            url = urljoin(response.url, response.headers["Location"])
            response.close()
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method = "GET"
                kwargs.pop("data", None)
                kwargs.pop("json", None)
        raise BlockedHost(f"重定向次数过多 (too many redirects): {url}")

    def _hop(self, method: str, url: str, kwargs: dict[str, Any]) -> requests.Response:
        """One request, without redirects.

        Session.request merges its defaults into every call (headers, cookies, params,
        auth, hooks, proxies from the environment) at about a third of the client's CPU
        per call; this session never sets params, auth, hooks or proxies and ignores the
        environment, so the hop prepares the request and hands it to the (peer-checking)
        transport adapter itself: same headers, same cookies kept and sent, same errors.
        """
        if not _DIRECT.issuperset(kwargs) or self.params or self.auth or self.proxies:
            return super().request(method, url, allow_redirects=False, **kwargs)
        headers = CaseInsensitiveDict(self.headers)
        for name, value in (kwargs.get("headers") or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method.upper(),
            url=url,
            headers=headers,
            data=kwargs.get("data") or {},
            json=kwargs.get("json"),
            params=kwargs.get("params") or {},
            cookies=self.cookies,
            hooks=None,
        )
        response = self.get_adapter(prepared.url or url).send(
            prepared,
            stream=True,
            timeout=kwargs.get("timeout"),
            verify=True if self.verify is None else self.verify,
            cert=self.cert,
            proxies={},
        )
        if "set-cookie" in response.headers:
            extract_cookies_to_jar(self.cookies, prepared, response.raw)
        return response


def _never_connected(exc: requests.ConnectionError) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def raise_for_status(
    response: requests.Response, retry_statuses: Collection[int], what: str
) -> None:
    """Non-2xx → HttpStatusError; retryable when configured, with Retry-After if sent."""
    if response.status_code < 400:
        return
    raise HttpStatusError(
        response.status_code,
        f"{what} 返回 HTTP {response.status_code} (HTTP error)",
        retryable=response.status_code in retry_statuses,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def session_for(config: ConnectorConfig, allow: AllowList | None = None) -> GuardedSession:
    """The connector's pooled session: allow-list, size cap, redirects and TLS from config."""
    session = GuardedSession(
        allow or AllowList.from_env(),
        config.limits.max_response_bytes,
        config.limits.max_redirects,
        config.retry.retry_on.errors,
    )
    endpoint = config.endpoint
    session.verify = endpoint.ca_bundle or endpoint.verify
    if not endpoint.verify:
        log.warning(
            "connector %s: TLS verification off (%s)", config.name, endpoint.insecure_tls_reason
        )
    return session


def timeout_of(config: ConnectorConfig) -> tuple[float, float]:
    return (config.timeouts.connect, config.timeouts.read)
