"""Scoped API keys, stored only as hashes; the clear key is shown once at creation."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, select

from hub.model.base import utcnow
from hub.store.schema import api_keys
from hub.store.work_orders import hash_secret

FIXED_SCOPES = ("portal", "staff", "admin")
_UNIT_SCOPE = re.compile(r"^unit:[A-Z][A-Z0-9-]{1,31}$")


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    scope: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def unit_code(self) -> str | None:
        return self.scope.split(":", 1)[1] if self.scope.startswith("unit:") else None


def validate_scope(scope: str) -> str:
    if scope in FIXED_SCOPES or _UNIT_SCOPE.match(scope):
        return scope
    raise ValueError(
        f"无效的权限范围 {scope!r}，应为 portal、staff、admin 或 unit:<单位编码> (invalid scope)"
    )


def create_key(conn: Connection, name: str, scope: str) -> tuple[ApiKey, str]:
    """Returns the stored record and the clear key (never stored)."""
    validate_scope(scope)
    clear = f"jk_{secrets.token_urlsafe(32)}"
    now = utcnow()
    row_id = conn.execute(
        api_keys.insert().values(
            name=name,
            scope=scope,
            prefix=clear[:10],
            key_hash=hash_secret(clear),
            created_at=now,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    return ApiKey(int(row_id), name, scope, clear[:10], now, None), clear


def _to_key(row: Row[Any]) -> ApiKey:
    return ApiKey(row.id, row.name, row.scope, row.prefix, row.created_at, row.revoked_at)


_ACTIVE_BY_HASH = select(api_keys).where(
    and_(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)


def find_active_key(conn: Connection, clear: str) -> ApiKey | None:
    row = conn.execute(_ACTIVE_BY_HASH, {"key_hash": hash_secret(clear)}).first()
    return _to_key(row) if row else None


def list_keys(conn: Connection) -> list[ApiKey]:
    return [_to_key(r) for r in conn.execute(select(api_keys).order_by(api_keys.c.id))]


def revoke_key(conn: Connection, *, key_id: int | None = None, name: str | None = None) -> int:
    """Revoke by id or by name (all active keys with that name); returns how many."""
    condition = api_keys.c.id == key_id if key_id is not None else api_keys.c.name == name
    result = conn.execute(
        api_keys.update()
        .where(and_(condition, api_keys.c.revoked_at.is_(None)))
        .values(revoked_at=utcnow())
    )
    return result.rowcount
