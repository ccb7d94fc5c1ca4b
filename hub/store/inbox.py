"""The hub inbox: delivery for units without a system, idempotent like any connector."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from hub.model.base import utcnow
from hub.store.schema import inbox_items


@dataclass(frozen=True)
class InboxItem:
    id: int
    unit_code: str
    kind: str
    wo_no: str | None
    idempotency_key: str
    title: str
    body: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


def deliver(
    conn: Connection,
    *,
    unit_code: str,
    kind: str,
    idempotency_key: str,
    title: str,
    body: dict[str, Any],
    wo_no: str | None = None,
) -> int:
    """Returns the item id; delivering the same key again returns the first item's id."""
    existing = conn.execute(
        select(inbox_items.c.id).where(inbox_items.c.idempotency_key == idempotency_key)
    ).scalar_one_or_none()
    if existing is not None:
        return int(existing)
    result = conn.execute(
        inbox_items.insert().values(
            unit_code=unit_code,
            kind=kind,
            wo_no=wo_no,
            idempotency_key=idempotency_key,
            title=title,
            body=body,
            created_at=utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def find_by_key(conn: Connection, idempotency_key: str) -> InboxItem | None:
    row = (
        conn.execute(select(inbox_items).where(inbox_items.c.idempotency_key == idempotency_key))
        .mappings()
        .first()
    )
    return InboxItem(**dict(row)) if row else None


def unit_inbox(conn: Connection, unit_code: str, *, unread_only: bool = False) -> list[InboxItem]:
    query = select(inbox_items).where(inbox_items.c.unit_code == unit_code)
    if unread_only:
        query = query.where(inbox_items.c.read_at.is_(None))
    rows = conn.execute(query.order_by(inbox_items.c.id)).mappings()
    return [InboxItem(**dict(r)) for r in rows]


def mark_read(conn: Connection, unit_code: str, item_id: int) -> bool:
    updated = conn.execute(
        inbox_items.update()
        .where(and_(inbox_items.c.id == item_id, inbox_items.c.unit_code == unit_code))
        .values(read_at=utcnow())
    )
    return bool(updated.rowcount)


def get_item(conn: Connection, unit_code: str, item_id: int) -> InboxItem | None:
    row = (
        conn.execute(
            select(inbox_items).where(
                and_(inbox_items.c.id == item_id, inbox_items.c.unit_code == unit_code)
            )
        )
        .mappings()
        .first()
    )
    return InboxItem(**dict(row)) if row else None
