"""Idempotency-Key records: the first response for a key is the answer to every retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, select

from hub.store.schema import idempotency_keys


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: Any


def find_response(conn: Connection, api_key_id: int, key: str) -> StoredResponse | None:
    row = conn.execute(
        select(idempotency_keys).where(
            and_(idempotency_keys.c.api_key_id == api_key_id, idempotency_keys.c.key == key)
        )
    ).first()
    return StoredResponse(row.request_hash, row.status_code, row.response) if row else None


def save_responses(
    conn: Connection, records: list[tuple[int, str, str, int, Any]], at: datetime
) -> None:
    """(api_key_id, key, request_hash, status, body) rows, in the transaction of the work."""
    if not records:
        return
    conn.execute(
        idempotency_keys.insert(),
        [
            {
                "api_key_id": api_key_id,
                "key": key,
                "request_hash": request_hash,
                "status_code": status_code,
                "response": body,
                "created_at": at,
            }
            for api_key_id, key, request_hash, status_code, body in records
        ],
    )


def save_response(
    conn: Connection,
    api_key_id: int,
    key: str,
    request_hash: str,
    status_code: int,
    body: Any,
    at: datetime,
) -> None:
    save_responses(conn, [(api_key_id, key, request_hash, status_code, body)], at)


def purge_expired(conn: Connection, older_than: datetime, ttl: timedelta) -> int:
    result = conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < older_than - ttl)
    )
    return result.rowcount
