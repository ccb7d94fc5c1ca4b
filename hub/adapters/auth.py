"""HTTP authentication from a resolved connection: api key, basic, bearer, token endpoint.

Each auth gives request headers; `invalidate()` after a 401 tells the caller whether asking
again may help (only a cached login token can be refreshed).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from hub.adapters.errors import AuthFailed
from hub.connectors.models import Auth, TokenEndpoint, duration_seconds
from hub.connectors.secrets import Connection


def dig(data: Any, path: str) -> Any:
    """Follow a dotted path ("data.token", "$.data.items", "items.0.id") into JSON data."""
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


class HttpAuth:
    """No authentication; the base of the others."""

    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> bool:
        return False


class StaticHeader(HttpAuth):
    def __init__(self, name: str, value: str) -> None:
        self._header = {name: value}

    def headers(self) -> dict[str, str]:
        return dict(self._header)


class TokenLogin(HttpAuth):
    """Log in at a token URL, cache the token for its ttl, log in again after a 401."""

    def __init__(
        self,
        spec: TokenEndpoint,
        conn: Connection,
        session: requests.Session,
        timeout: tuple[float, float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec, self.conn, self.session, self.timeout, self.clock = (
            spec,
            conn,
            session,
            timeout,
            clock,
        )
        self.ttl = duration_seconds(spec.ttl)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.logins = 0

    def _login(self) -> str:
        spec, login, password = self.spec, self.conn.login or "", self.conn.password or ""
        url = spec.url.format(login=quote(login, safe=""), password=quote(password, safe=""))
        fields = {spec.login_field: login, spec.password_field: password}
        # Some systems (Seeyon) answer JSON only to clients that ask for it, else plain text.
        headers = {"Accept": "application/json, text/plain;q=0.5"}
        kwargs: dict[str, Any] = {"timeout": self.timeout, "headers": headers}
        if spec.send_as == "json":
            kwargs["json"] = fields
        elif spec.send_as == "form":
            kwargs["data"] = fields
        elif spec.send_as == "query":
            kwargs["params"] = fields
        response = self.session.request(spec.method, url, **kwargs)
        self.logins += 1
        if response.status_code >= 400:
            raise AuthFailed(f"登录令牌接口失败 HTTP {response.status_code} (token login failed)")
        try:
            body = response.json()
        except (json.JSONDecodeError, ValueError):
            body = None
        if body is None or isinstance(body, str):
            token = (body or response.text).strip() if not spec.token_path else None
        else:
            token = dig(body, spec.token_path) if spec.token_path else None
        if not token or not isinstance(token, str | int):
            raise AuthFailed(f"令牌接口未返回令牌 (no token at {spec.token_path!r})")
        return str(token)

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or self.clock() >= self._expires:
                self._token = self._login()
                self._expires = self.clock() + self.ttl
            return {self.spec.header: f"{self.spec.prefix}{self._token}"}

    def invalidate(self) -> bool:
        with self._lock:
            self._token = None
        return True


def http_auth(
    auth: Auth,
    conn: Connection | None,
    session: requests.Session,
    timeout: tuple[float, float],
) -> HttpAuth:
    """The HttpAuth for a connector; credentials must already be resolved."""
    if auth.kind in ("none", "ws_security"):
        return HttpAuth()
    if conn is None:
        raise AuthFailed("缺少连接凭据 (credentials missing)")
    secret = conn.password or ""
    if auth.kind == "api_key":
        return StaticHeader(auth.header or "X-API-Key", secret)
    if auth.kind == "bearer":
        return StaticHeader("Authorization", f"Bearer {secret}")
    if auth.kind == "basic":
        pair = f"{conn.login or ''}:{secret}".encode()
        return StaticHeader("Authorization", "Basic " + base64.b64encode(pair).decode())
    assert auth.token_endpoint is not None
    return TokenLogin(auth.token_endpoint, conn, session, timeout)
