"""Signed status pushes from department systems (`POST /api/v1/callbacks/{connector}`).

A push is accepted only with a valid HMAC-SHA256 over "timestamp.nonce." + body, made with
the connector's own secret, a timestamp within the allowed skew and a nonce never seen
before (kept in the store, so a replay fails in every process). The body is mapped by the
connector's callback mapping into status updates and applied like a poll's answers. A
body that cannot be mapped goes to the dead letters with the original payload.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import IntegrityError

from hub.connectors.secrets import resolve_connection
from hub.mapping import MappingError, StatusUpdate, parse_page
from hub.model.base import utcnow
from hub.services.feedback import FeedbackResult, apply_update
from hub.services.pool import ConnectorPool
from hub.store.db import savepoint, transaction
from hub.store.dead_letters import add_dead_letter
from hub.store.schema import callback_nonces
from hub.workflow.actions import SlaClock

TIMESTAMP = "X-Hub-Timestamp"
NONCE = "X-Hub-Nonce"
SIGNATURE = "X-Hub-Signature"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class CallbackRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The signature a department system sends (documented in connectors/README.md)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _verify(secret: str, headers: Mapping[str, str], body: bytes, now: datetime, skew: int) -> str:
    timestamp, nonce = headers.get(TIMESTAMP, ""), headers.get(NONCE, "")
    if not timestamp.isdigit() or not _NONCE.fullmatch(nonce):
        raise CallbackRefused(
            401, "bad_signature", "缺少或无效的时间戳、随机串 (missing timestamp or nonce)"
        )
    expected = sign(secret, timestamp, nonce, body)
    if not hmac.compare_digest(expected, headers.get(SIGNATURE, "")):
        raise CallbackRefused(401, "bad_signature", "签名无效 (signature does not match)")
    if abs(now.timestamp() - int(timestamp)) > skew:
        raise CallbackRefused(
            401, "stale_timestamp", f"时间戳超出 {skew} 秒 (timestamp outside the allowed skew)"
        )
    return nonce


def receive(
    pool: ConnectorPool,
    clock: SlaClock,
    connector: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> FeedbackResult:
    now = now or utcnow()
    if connector not in pool.names():
        raise CallbackRefused(404, "unknown_connector", "未知连接器 (unknown connector)")
    callback = pool.config(connector).callback
    if callback is None:
        raise CallbackRefused(
            404, "no_callback", "该连接器未启用回调 (callbacks are not enabled for it)"
        )
    secret = resolve_connection(callback.connection).password
    if not secret:
        raise CallbackRefused(
            503, "callback_unconfigured", "回调密钥未配置 (the callback secret is not set)"
        )
    nonce = _verify(secret, headers, body, now, callback.max_skew_seconds)
    mapping = pool.mapping(callback.mapping)
    refusal: CallbackRefused | None = None
    result = FeedbackResult()
    with transaction(pool.engine) as conn:
        try:
            with savepoint(conn):
                conn.execute(
                    callback_nonces.insert().values(connector=connector, nonce=nonce, seen_at=now)
                )
        except IntegrityError:
            raise CallbackRefused(409, "replayed", "随机串已用过 (nonce already used)") from None
        try:
            source: Literal["xml", "json"] = "xml" if mapping.source == "xml" else "json"
            updates = [mapping.to_canonical(r) for r in mapping.records(parse_page(body, source))]
        except MappingError as exc:
            # The letter (and the used nonce) commit; the caller then hears why.
            add_dead_letter(
                conn,
                source=connector,
                stream="callback",
                payload=body,
                payload_format=mapping.source,
                reason=exc.reason,
                field_path=exc.field_path or None,
                at=now,
            )
            refusal = CallbackRefused(422, "unmappable", f"无法映射 (cannot map): {exc.reason}")
            updates = []
        for update in updates:
            if not isinstance(update, StatusUpdate):  # pragma: no cover - checked at load
                continue
            result.count(apply_update(conn, connector, update, clock, now), update.external_id)
    if refusal is not None:
        raise refusal
    return result
