"""Connector config (`connectors/<name>.yaml`) as pydantic models.

Every model forbids unknown keys, so a misspelt key fails at load with its line instead of
being silently ignored. Secrets never live here: only a `connection:` id.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

IDENT = r"^[a-z][a-z0-9_]{0,62}$"
UNIT = r"^[A-Z][A-Z0-9-]{1,31}$"
DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def duration_seconds(text: str) -> int:
    """'1d2h30m15s' style durations (each part optional) in seconds."""
    match = DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"时长格式应如 10m、1h30m、2d (duration like 10m, 1h30m, 2d): {text!r}")
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(v) * units[k] for k, v in match.groupdict().items() if v)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoint(Strict):
    url: str | None = Field(None, description="base URL, SOAP address or SQLAlchemy URL")
    wsdl: str | None = Field(None, description="SOAP: WSDL URL or vendored file path")
    verify: bool = True
    insecure_tls_reason: str | None = None
    ca_bundle: str | None = None

    @model_validator(mode="after")
    def _tls_off_needs_reason(self) -> Endpoint:
        if not self.verify and not (self.insecure_tls_reason or "").strip():
            raise ValueError(
                "关闭 TLS 校验须填写 insecure_tls_reason (verify: false needs insecure_tls_reason)"
            )
        return self


class TokenEndpoint(Strict):
    """Weaver/Seeyon-style login: call url with login/password, read the token, cache it."""

    url: str = Field(description="may contain {login} and {password} placeholders")
    method: Literal["GET", "POST"] = "POST"
    send_as: Literal["path", "form", "json", "query"] = "json"
    login_field: str = "userName"
    password_field: str = "password"  # noqa: S105 - a field name
    token_path: str = Field("token", description="dotted path of the token in the JSON reply")
    header: str = "Authorization"
    prefix: str = "Bearer "
    ttl: str = "30m"

    @model_validator(mode="after")
    def _ttl_ok(self) -> TokenEndpoint:
        duration_seconds(self.ttl)
        return self


AuthKind = Literal["none", "api_key", "basic", "bearer", "token_endpoint", "ws_security"]


class Auth(Strict):
    kind: AuthKind = "none"
    header: str | None = Field(None, description="api_key: header name, e.g. X-API-Key")
    token_endpoint: TokenEndpoint | None = None

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        if self.kind == "api_key" and not self.header:
            raise ValueError("api_key 认证须指定 header (api_key auth needs header)")
        if (self.kind == "token_endpoint") != (self.token_endpoint is not None):
            raise ValueError(
                "token_endpoint 认证须且仅须填写 token_endpoint "
                "(token_endpoint block goes with kind token_endpoint only)"
            )
        return self


class Timeouts(Strict):
    connect: PositiveFloat = 5.0
    read: PositiveFloat = 30.0


class Backoff(Strict):
    base: PositiveFloat = 0.5
    cap: PositiveFloat = 30.0
    jitter: bool = True


ErrorKind = Literal["timeout", "connection"]


def _default_errors() -> list[ErrorKind]:
    return ["timeout", "connection"]


class RetryOn(Strict):
    statuses: list[int] = Field(default_factory=lambda: [429, 502, 503, 504])
    errors: list[ErrorKind] = Field(default_factory=_default_errors)


class RetryPolicy(Strict):
    attempts: int = Field(3, ge=1, le=10)
    backoff: Backoff = Backoff()
    retry_on: RetryOn = RetryOn()
    respect_retry_after: bool = True
    max_retry_after: PositiveFloat = 120.0


class RateLimit(Strict):
    per_second: PositiveFloat = 10.0
    burst: PositiveInt = 10


class CircuitBreaker(Strict):
    failure_threshold: PositiveInt = 5
    open_seconds: PositiveFloat = 60.0
    half_open_probes: PositiveInt = 1


class Callback(Strict):
    """Pushed status changes (`POST /api/v1/callbacks/{connector}`), HMAC-signed.

    The shared secret is the password of `connection` (AIRFLOW_CONN_<ID>), never the YAML.
    """

    connection: str = Field(pattern=IDENT, description="connection id holding the HMAC secret")
    mapping: str = Field(pattern=IDENT, description="inbound mapping to status_update")
    max_skew_seconds: int = Field(300, ge=30, le=3600)


class Limits(Strict):
    max_response_bytes: PositiveInt = 10 * 1024 * 1024
    max_redirects: int = Field(3, ge=0, le=10)
    # 8: a dispatch batch's calls arrive together; with 4, half of a batch of eight waited
    # for the first half's answers. The HTTP pool keeps 10 connections per system.
    max_concurrent_calls: int = Field(
        8, ge=1, le=32, description="calls one hub process makes to the system at once"
    )


class Cursor(Strict):
    field: str
    type: Literal["time", "id"]
    lookback: str | None = Field(None, description="time cursors: re-read this far back")
    param: str | None = Field(None, description="request parameter carrying the cursor")

    @model_validator(mode="after")
    def _lookback_ok(self) -> Cursor:
        if self.lookback is not None:
            if self.type != "time":
                raise ValueError("lookback 仅用于时间游标 (lookback applies to time cursors)")
            duration_seconds(self.lookback)
        return self


class Paging(Strict):
    kind: Literal["page", "offset", "cursor", "token"]
    size: int = Field(100, ge=1, le=10000)
    params: dict[str, str] = Field(
        default_factory=dict, description="role → parameter name: page, size, offset, token"
    )
    next_path: str | None = Field(None, description="cursor/token: dotted path of next token")
    start: int = 1


class Stream(Strict):
    name: str = Field(pattern=IDENT)
    operation: str | None = Field(None, description="SOAP operation")
    path: str | None = Field(None, description="REST path under endpoint.url")
    method: Literal["GET", "POST"] = "GET"
    table: str | None = Field(None, description="SQL table (checked against the schema)")
    columns: list[str] | None = None
    query: str | None = Field(None, description="SQL with :named parameters only")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    cursor: Cursor | None = None
    paging: Paging | None = None
    records: str | None = Field(None, description="record selector (XPath / JSON path)")
    mapping: str = Field(pattern=IDENT)
    schedule: str = "15m"

    @model_validator(mode="after")
    def _one_source(self) -> Stream:
        given = [k for k in ("operation", "path", "table", "query") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "流须且仅须指定 operation、path、table、query 之一 "
                "(a stream needs exactly one of operation, path, table, query)"
            )
        if self.columns is not None and not self.table:
            raise ValueError("columns 仅用于 table (columns go with table)")
        return self

    @field_validator("schedule")
    @classmethod
    def _schedule_ok(cls, value: str) -> str:
        """A cron expression (5 fields), an Airflow preset (@daily) or a duration (15m)."""
        if not (value.startswith("@") or len(value.split()) == 5):
            duration_seconds(value)
        return value


OP_NAME = r"^(create|status|reply|notice|custom)(_[a-z0-9_]+)?$"


class Operation(Strict):
    name: str = Field(pattern=OP_NAME, description="create|status|reply|notice|custom[_suffix]")
    operation: str | None = Field(None, description="SOAP operation")
    path: str | None = Field(None, description="REST path; {placeholders} from the payload")
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    body: Literal["json", "xml", "form"] = "json"
    table: str | None = Field(None, description="SQL table")
    write: Literal["insert", "update"] | None = None
    key_columns: list[str] = Field(default_factory=list)
    mapping: str | None = Field(None, pattern=IDENT, description="required except for inbox")
    response_mapping: str | None = Field(None, pattern=IDENT)
    idempotency_lookup: str | None = Field(
        None, description="operation asked before a retried create, to find an earlier one"
    )

    @property
    def kind(self) -> str:
        return self.name.split("_", 1)[0]

    @model_validator(mode="after")
    def _one_target(self) -> Operation:
        given = [k for k in ("operation", "path", "table") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(
                "操作只能指定 operation、path、table 之一 "
                "(an operation takes only one of operation, path, table)"
            )
        if self.write == "update" and not self.key_columns:
            raise ValueError("update 须指定 key_columns (update needs key_columns)")
        return self


class ConnectorConfig(Strict):
    name: str = Field(pattern=IDENT)
    kind: Literal["soap", "rest", "sql", "inbox"]
    unit: str = Field(pattern=UNIT)
    description: str = ""
    owner: str = ""
    endpoint: Endpoint = Endpoint()
    connection: str | None = Field(None, pattern=IDENT)
    auth: Auth = Auth()
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    rate_limit: RateLimit = RateLimit()
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    limits: Limits = Limits()
    streams: list[Stream] = Field(default_factory=list)
    operations: list[Operation] = Field(default_factory=list)
    callback: Callback | None = None

    @property
    def writes(self) -> bool:
        """SQL connectors open read-only unless an operation writes."""
        return any(op.write for op in self.operations)

    def stream(self, name: str) -> Stream:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(name)

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)
