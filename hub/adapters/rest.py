"""REST adapter (requests): JSON/XML/form bodies, login tokens, charsets, paged pulls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from hub.adapters.auth import HttpAuth, dig, http_auth
from hub.adapters.base import (
    Adapter,
    Page,
    Payload,
    Response,
    effective_cursor,
    next_numeric_token,
    paging_params,
)
from hub.adapters.charset import decode_body
from hub.adapters.errors import AdapterError, DecodeFailed
from hub.adapters.http import raise_for_status, session_for, timeout_of
from hub.adapters.resilience import Resilience
from hub.connectors.allowlist import AllowList
from hub.connectors.models import ConnectorConfig
from hub.connectors.secrets import Connection, resolve_connection


def _fill_path(template: str, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Put payload values into {placeholders} (URL-quoted); return the path and the rest."""
    rest = dict(payload)
    names = [part.split("}", 1)[0] for part in template.split("{")[1:]]
    values = {}
    for name in names:
        if name not in rest:
            raise AdapterError(f"路径参数缺失 (path parameter missing): {name}")
        values[name] = quote(str(rest.pop(name)), safe="")
    return template.format(**values), rest


class RestAdapter(Adapter):
    def __init__(
        self,
        config: ConnectorConfig,
        *,
        allow: AllowList | None = None,
        connection: Connection | None = None,
        resilience: Resilience | None = None,
    ) -> None:
        super().__init__(config, resilience)
        self.session = session_for(config, allow)
        self.timeout = timeout_of(config)
        if connection is None and config.connection:
            connection = resolve_connection(config.connection)
        self.auth: HttpAuth = http_auth(config.auth, connection, self.session, self.timeout)
        self.base = (config.endpoint.url or "").rstrip("/")

    def close(self) -> None:
        self.session.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request with auth; a 401 with a refreshable token logs in again once."""
        url = self.base + "/" + path.lstrip("/")
        extra_headers = kwargs.pop("headers", {})
        for _ in range(2):
            headers = {**extra_headers, **self.auth.headers()}
            response = self.session.request(
                method, url, headers=headers, timeout=self.timeout, **kwargs
            )
            if response.status_code != 401 or not self.auth.invalidate():
                break
        raise_for_status(response, self.config.retry.retry_on.statuses, self.config.name)
        return response

    def _parsed(self, response: requests.Response) -> Any:
        content_type = response.headers.get("Content-Type", "")
        try:
            text = decode_body(response.content, content_type)
            if "json" in content_type or text.lstrip()[:1] in ("{", "["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise DecodeFailed(f"JSON 无效 (invalid JSON): {exc.msg}") from exc
            return text
        except DecodeFailed as error:
            error.payload = response.content
            raise

    def call(self, operation: str, payload: Payload) -> Response:
        op = self.config.operation(operation)
        assert op.path is not None
        fields = payload if isinstance(payload, Mapping) else {}
        path, rest = _fill_path(op.path, fields)
        kwargs: dict[str, Any] = {}
        if isinstance(payload, bytes | str):
            kind = "xml" if op.body == "xml" else "json"
            kwargs["data"] = payload.encode() if isinstance(payload, str) else payload
            kwargs["headers"] = {"Content-Type": f"application/{kind}; charset=utf-8"}
        elif op.method == "GET":
            kwargs["params"] = rest
        elif op.body == "form":
            kwargs["data"] = rest
        else:
            kwargs["json"] = rest

        def attempt() -> Response:
            response = self._send(op.method, path, **kwargs)
            return Response(
                operation=operation,
                raw=response.content,
                content_type=response.headers.get("Content-Type", ""),
                data=self._parsed(response),
                status=response.status_code,
            )

        return self.resilience.run(attempt, idempotent=op.kind == "status" or op.method == "GET")

    def fetch_page(self, stream: str, cursor: str | None, page_token: str | None) -> Page:
        spec = self.config.stream(stream)
        assert spec.path is not None
        params: dict[str, Any] = dict(spec.params)
        since = effective_cursor(spec, cursor)
        if since is not None and spec.cursor is not None:
            params[spec.cursor.param or spec.cursor.field] = since
        paged, size = paging_params(spec, page_token)
        params.update(paged)
        key = "params" if spec.method == "GET" else "json"

        def attempt() -> Page:
            response = self._send(spec.method, spec.path or "", **{key: params})
            data = self._parsed(response)
            records = dig(data, spec.records) if spec.records else data
            count = len(records) if isinstance(records, list) else None
            token = next_numeric_token(spec, params, count)
            if spec.paging is not None and spec.paging.kind in ("cursor", "token"):
                found = dig(data, spec.paging.next_path or "next")
                token = str(found) if found not in (None, "") and count != 0 else None
            return Page(
                stream=stream,
                raw=response.content,
                content_type=response.headers.get("Content-Type", ""),
                next_token=token,
                size=size,
                request=params,
            )

        return self.resilience.run(attempt)
