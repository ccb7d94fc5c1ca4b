"""Sync cursors: saved in the same transaction as the batch they follow, never before."""

from __future__ import annotations

from sqlalchemy import Connection, and_, select

from hub.model.base import utcnow
from hub.store.schema import sync_cursors


def get_cursor(conn: Connection, connector: str, stream: str) -> str | None:
    return conn.execute(
        select(sync_cursors.c.value).where(
            and_(sync_cursors.c.connector == connector, sync_cursors.c.stream == stream)
        )
    ).scalar_one_or_none()


def save_cursor(conn: Connection, connector: str, stream: str, value: str) -> None:
    where = and_(sync_cursors.c.connector == connector, sync_cursors.c.stream == stream)
    updated = conn.execute(
        sync_cursors.update().where(where).values(value=value, updated_at=utcnow())
    ).rowcount
    if not updated:
        conn.execute(
            sync_cursors.insert().values(
                connector=connector, stream=stream, value=value, updated_at=utcnow()
            )
        )
