"""The interface every adapter offers, whatever the protocol.

The dispatcher calls `call(operation, payload)` to push (create, status, reply, notice); the
sync job calls `fetch_page(stream, cursor, page_token)` to pull. Bodies come back raw (bytes
for XML/JSON, rows for SQL) because the mapping engine owns the record shape.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.adapters.resilience import CircuitBreaker, Resilience, Retrier, TokenBucket
from hub.connectors.models import ConnectorConfig, Stream, duration_seconds

Payload = Mapping[str, Any] | bytes | str  # mapped fields, or a body the mapping rendered


@dataclass(frozen=True)
class Response:
    """What an operation answered: raw body (and parsed data where the protocol gives one;
    a SOAP reply that a response mapping reads is left to it: `data` is then None)."""

    operation: str
    raw: bytes = b""
    content_type: str = ""
    data: Any = None
    status: int | None = None


@dataclass(frozen=True)
class Page:
    """One page of a stream.

    `next_token` is None when the stream is exhausted. For page/offset paging over XML the
    adapter cannot count records (the mapping engine selects them), so it returns the next
    page token and the caller stops on a page with fewer than `size` records.
    """

    stream: str
    raw: bytes | None = None
    content_type: str = ""
    rows: list[dict[str, Any]] | None = None
    next_token: str | None = None
    size: int | None = None
    request: Mapping[str, Any] = field(default_factory=dict)


class Adapter(abc.ABC):
    """One connector's protocol client; stateful (session, token, breaker) and thread-safe
    enough for one worker."""

    def __init__(self, config: ConnectorConfig, resilience: Resilience | None = None) -> None:
        self.config = config
        self.resilience = resilience or resilience_for(config)

    @abc.abstractmethod
    def call(self, operation: str, payload: Payload) -> Response:
        """Run a configured operation (create/status/reply/notice/custom) with mapped data."""

    @abc.abstractmethod
    def fetch_page(self, stream: str, cursor: str | None, page_token: str | None) -> Page:
        """One page of a configured stream after `cursor` (lookback already applied)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release pooled connections."""


def resilience_for(config: ConnectorConfig) -> Resilience:
    retry, limit, breaker = config.retry, config.rate_limit, config.circuit_breaker
    return Resilience(
        Retrier(
            attempts=retry.attempts,
            base=retry.backoff.base,
            cap=retry.backoff.cap,
            jitter=retry.backoff.jitter,
            respect_retry_after=retry.respect_retry_after,
            max_retry_after=retry.max_retry_after,
        ),
        TokenBucket(limit.per_second, limit.burst),
        CircuitBreaker(breaker.failure_threshold, breaker.open_seconds, breaker.half_open_probes),
    )


def effective_cursor(stream: Stream, cursor: str | None) -> str | None:
    """Apply the lookback to a time cursor (ISO 8601), so late-committed rows are re-read."""
    if cursor is None or stream.cursor is None or not stream.cursor.lookback:
        return cursor
    back = timedelta(seconds=duration_seconds(stream.cursor.lookback))
    text = cursor.replace("Z", "+00:00")
    try:
        moved = datetime.fromisoformat(text) - back
    except ValueError:
        return cursor
    sep = "T" if "T" in cursor else " "
    return moved.isoformat(sep=sep)


def paging_params(stream: Stream, page_token: str | None) -> tuple[dict[str, Any], int | None]:
    """Request parameters for the page; returns them and the page size."""
    paging = stream.paging
    if paging is None:
        return {}, None
    names = {"page": "page", "size": "size", "offset": "offset", "token": "token"}
    names.update(paging.params)
    params: dict[str, Any] = {names["size"]: paging.size}
    if paging.kind == "page":
        params[names["page"]] = int(page_token) if page_token else paging.start
    elif paging.kind == "offset":
        params[names["offset"]] = int(page_token) if page_token else 0
    elif page_token:
        params[names["token"]] = page_token
    return params, paging.size


def next_numeric_token(stream: Stream, params: Mapping[str, Any], count: int | None) -> str | None:
    """page/offset: the following page, unless a short (or empty) page says we are done."""
    paging = stream.paging
    if paging is None or paging.kind not in ("page", "offset"):
        return None
    if count is not None and count < paging.size:
        return None
    names = {"page": "page", "offset": "offset", **paging.params}
    if paging.kind == "page":
        return str(int(params[names["page"]]) + 1)
    return str(int(params[names["offset"]]) + paging.size)
