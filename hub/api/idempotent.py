"""Idempotency-Key handling shared by every POST that creates something."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from hub.api.errors import ApiError
from hub.api.state import HubState
from hub.model.base import utcnow
from hub.store.idempotency import StoredResponse, find_response, save_response

MAX_KEY_LENGTH = 200


def body_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key 须为 1–{MAX_KEY_LENGTH} 个可打印字符 (invalid Idempotency-Key)",
        )
    return key


def _replay(stored: StoredResponse, request_hash: str) -> tuple[int, Any, bool]:
    if stored.request_hash != request_hash:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "同一 Idempotency-Key 已用于内容不同的请求 (key reused with a different body)",
        )
    return stored.status_code, stored.body, True


def run_once(
    state: HubState,
    api_key_id: int,
    idempotency_key: str | None,
    request_body: Any,
    work: Callable[[Connection], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run `work` in one transaction with the key's record; returns (status, body, replayed)."""
    if idempotency_key is None:
        with state.engine.begin() as conn:
            status, body = work(conn)
        return status, body, False
    key = check_key(idempotency_key)
    request_hash = body_hash(request_body)
    try:
        with state.engine.begin() as conn:
            stored = find_response(conn, api_key_id, key)
            if stored is not None:
                return _replay(stored, request_hash)
            status, body = work(conn)
            save_response(conn, api_key_id, key, request_hash, status, body, utcnow())
        return status, body, False
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        with state.engine.connect() as conn:
            stored = find_response(conn, api_key_id, key)
        if stored is None:
            raise
        return _replay(stored, request_hash)
