"""SOAP adapter (zeep) with hardened XML handling.

Department SOAP services are old and some have known exploits; a response or WSDL carrying a
DTD, entities or an external reference is refused before anything is expanded or fetched,
and every fetch goes through the allow-listed, size-capped session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import zeep
from zeep import exceptions as zx
from zeep.cache import Base as ZeepCache
from zeep.cache import InMemoryCache, SqliteCache
from zeep.helpers import serialize_object
from zeep.wsse.username import UsernameToken

from hub.adapters.auth import dig
from hub.adapters.base import (
    Adapter,
    Page,
    Payload,
    Response,
    effective_cursor,
    next_numeric_token,
    paging_params,
)
from hub.adapters.errors import (
    AdapterError,
    AuthFailed,
    BlockedHost,
    HostileXml,
    HttpStatusError,
    SoapFault,
)
from hub.adapters.http import GuardedSession, session_for, timeout_of
from hub.adapters.resilience import Resilience
from hub.config import get_settings
from hub.connectors.allowlist import AllowList
from hub.connectors.models import ConnectorConfig
from hub.connectors.secrets import Connection, resolve_connection
from hub.mapping.parsing import has_doctype

HARDENED = zeep.Settings(
    strict=True,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
    xsd_ignore_sequence_order=False,
)

XML_REFUSALS: tuple[type[Exception], ...] = (
    zx.DTDForbidden,
    zx.EntitiesForbidden,
    zx.ExternalReferenceForbidden,
    zx.XMLSyntaxError,
)
_BODY = re.compile(rb"<(?:[\w.-]+:)?Body[\s>]")
_FIRST_TAG = re.compile(rb"<(?:[\w.-]+:)?([\w.-]+)")


def _plain_reply(raw: bytes) -> bool:
    """A page reply checked without zeep: True when it is no fault and declares no DTD.

    zeep turns every element of a reply into objects (about 0.4 ms per 20-column row),
    which the mapping engine never reads: it parses the raw bytes itself, with the
    hardened parser, and keeps a page it cannot read as a dead letter. So pages whose
    token is not in the reply skip zeep: a DOCTYPE (entities, external DTDs) is still
    refused here, and a fault still goes through zeep so it is reported as one.
    """
    if has_doctype(raw):
        raise HostileXml("SOAP 响应含 DOCTYPE，已拒绝 (a DOCTYPE in the reply is refused)")
    body = _BODY.search(raw, 0, 4096)
    first = _FIRST_TAG.search(raw, body.end(), body.end() + 4096) if body else None
    return first is not None and first.group(1) != b"Fault"


class AdapterCache(InMemoryCache):
    """zeep's InMemoryCache shares one dict per process; this one belongs to one adapter, so
    a WSDL cached for one connector is never served to another."""

    def __init__(self, timeout: int = 3600) -> None:
        super().__init__(timeout=timeout)
        self._cache = {}


def wsdl_cache(kind: str = "memory") -> ZeepCache:
    """Per adapter in memory by default; 'sqlite' keeps WSDLs across processes in HUB_HOME."""
    if kind == "sqlite":
        home = get_settings().home
        home.mkdir(parents=True, exist_ok=True)
        return SqliteCache(path=str(home / "wsdl-cache.db"), timeout=3600)
    return AdapterCache(timeout=3600)


class GuardedTransport(zeep.Transport):
    """Loads WSDL/XSD only from allow-listed hosts, or from the vendored WSDL's folder."""

    def __init__(
        self,
        session: GuardedSession,
        timeout: tuple[float, float],
        cache: ZeepCache | None,
        local_root: Path | None,
    ) -> None:
        super().__init__(cache=cache, timeout=timeout, operation_timeout=timeout, session=session)
        self.local_root = local_root

    def load(self, url: str) -> bytes:
        scheme = urlsplit(url).scheme
        if scheme in ("http", "https"):
            cached = self.cache.get(url) if self.cache else None
            if cached:
                return bytes(cached)
            response = self.session.get(url, timeout=self.load_timeout)
            if response.status_code >= 400:
                raise AdapterError(f"WSDL/XSD 下载失败 HTTP {response.status_code}: {url}")
            if self.cache:
                self.cache.add(url, response.content)
            return bytes(response.content)
        path = Path(url).resolve()
        if scheme or self.local_root is None or not path.is_relative_to(self.local_root):
            raise BlockedHost(f"不允许读取该文件 (file outside the vendored WSDL folder): {url}")
        return path.read_bytes()


def _fault_error(exc: zx.Fault, status: int, retry_statuses: list[int]) -> SoapFault:
    code = exc.code.text if hasattr(exc.code, "text") else exc.code
    return SoapFault(
        str(code) if code else None,
        str(exc.message),
        status=status,
        retryable=status in retry_statuses,
    )


class SoapAdapter(Adapter):
    def __init__(
        self,
        config: ConnectorConfig,
        *,
        allow: AllowList | None = None,
        connection: Connection | None = None,
        resilience: Resilience | None = None,
        cache: ZeepCache | None = None,
        base_dir: Path | None = None,
    ) -> None:
        super().__init__(config, resilience)
        wsdl = config.endpoint.wsdl or ""
        local_root = None
        if "://" not in wsdl:
            wsdl = str(((base_dir or Path.cwd()) / wsdl).resolve())
            local_root = Path(wsdl).parent
        if connection is None and config.connection:
            connection = resolve_connection(config.connection)
        self.session = session_for(config, allow)
        self.transport = GuardedTransport(
            self.session, timeout_of(config), cache or wsdl_cache(), local_root
        )
        try:
            self.client = zeep.Client(
                wsdl, transport=self.transport, settings=HARDENED, wsse=self._wsse(connection)
            )
        except XML_REFUSALS as exc:
            raise HostileXml(f"WSDL 被拒绝 (WSDL refused): {exc}") from exc
        self.service = self._service()

    def _wsse(self, conn: Connection | None) -> UsernameToken | None:
        if self.config.auth.kind != "ws_security":
            return None
        if conn is None or not conn.login:
            raise AuthFailed("WS-Security 缺少用户名 (UsernameToken needs a login)")
        digest = str(conn.extra.get("use_digest", "")).lower() in ("1", "true", "yes")
        return UsernameToken(conn.login, conn.password or "", use_digest=digest)

    def _service(self) -> Any:
        """The WSDL's service, or the same binding at endpoint.url when it is configured."""
        if not self.config.endpoint.url:
            return self.client.service
        binding = next(iter(self.client.wsdl.bindings))
        return self.client.create_service(binding, self.config.endpoint.url)

    def operations(self) -> list[str]:
        """Operation names the WSDL offers (for `jingkai connectors check`)."""
        return sorted(self.service._binding._operations)

    def close(self) -> None:
        self.session.close()

    def _invoke(
        self, name: str, params: Mapping[str, Any], *, reply: bool = True
    ) -> tuple[bytes, Any]:
        """Send, keep the raw reply (for the mapping engine), then parse it hardened.

        `reply=False`: the caller needs only the raw bytes (the mapping engine parses them
        hardened); a 200 that is no fault is only checked for a DOCTYPE, and the parsed
        result is None.
        """
        with self.client.settings(raw_response=True):
            try:
                http: requests.Response = getattr(self.service, name)(**params)
            except (zx.ValidationError, TypeError) as exc:
                raise AdapterError(f"SOAP 参数不符合 WSDL (parameters do not fit): {exc}") from exc
        try:
            if not reply and http.status_code == 200 and _plain_reply(http.content):
                return http.content, None
            return http.content, self._reply(name, http)
        except AdapterError as error:
            error.payload = http.content
            raise

    def _reply(self, name: str, http: requests.Response) -> Any:
        """Parse the reply with the hardened settings; faults and hostile XML → AdapterError."""
        binding = self.service._binding
        try:
            return binding.process_reply(self.client, binding.get(name), http)
        except zx.Fault as exc:
            raise _fault_error(exc, http.status_code, self.config.retry.retry_on.statuses) from exc
        except XML_REFUSALS as exc:
            raise HostileXml(f"SOAP 响应被拒绝 (hostile or malformed XML): {exc}") from exc
        except zx.TransportError as exc:
            if exc.content:  # zeep wraps an XML syntax error (e.g. entity loops) this way
                raise HostileXml(
                    "SOAP 响应 XML 无效或含危险结构 "
                    f"(invalid or hostile XML, HTTP {exc.status_code})"
                ) from exc
            raise HttpStatusError(
                exc.status_code,
                f"{self.config.name} 返回 HTTP {exc.status_code} (HTTP error)",
                retryable=exc.status_code in self.config.retry.retry_on.statuses,
            ) from exc

    def call(self, operation: str, payload: Payload) -> Response:
        op = self.config.operation(operation)
        assert op.operation is not None
        params = payload if isinstance(payload, Mapping) else {}
        # With a response mapping, the mapping engine reads the raw reply (hardened), as it
        # does a page's: zeep's objects, a tenth of a call's CPU, would be built for nobody.
        # `data` is then None; faults and DOCTYPEs are still refused here.
        parsed = op.response_mapping is None

        def attempt() -> Response:
            raw, result = self._invoke(op.operation or "", params, reply=parsed)
            return Response(operation, raw, "text/xml", serialize_object(result), 200)

        return self.resilience.run(attempt, idempotent=op.kind == "status")

    def fetch_page(self, stream: str, cursor: str | None, page_token: str | None) -> Page:
        spec = self.config.stream(stream)
        params: dict[str, Any] = dict(spec.params)
        since = effective_cursor(spec, cursor)
        if since is not None and spec.cursor is not None:
            params[spec.cursor.param or spec.cursor.field] = since
        paged, size = paging_params(spec, page_token)
        params.update(paged)

        token_in_reply = spec.paging is not None and spec.paging.kind in ("cursor", "token")

        def attempt() -> Page:
            raw, result = self._invoke(spec.operation or "", params, reply=token_in_reply)
            token = next_numeric_token(spec, params, None)
            if spec.paging is not None and token_in_reply:
                found = dig(serialize_object(result), spec.paging.next_path or "next")
                token = str(found) if found not in (None, "") else None
            return Page(stream, raw, "text/xml", None, token, size, params)

        return self.resilience.run(attempt)
