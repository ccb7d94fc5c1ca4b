"""Idempotency-Key checks: the first response for a key is the answer to every retry."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hub.api.errors import ApiError
from hub.store.idempotency import StoredResponse

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


def replay(stored: StoredResponse, request_hash: str | None) -> tuple[int, Any]:
    """The stored answer, or 409 when the key comes back with another body."""
    if stored.request_hash != request_hash:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "同一 Idempotency-Key 已用于内容不同的请求 (key reused with a different body)",
        )
    return stored.status_code, stored.body
