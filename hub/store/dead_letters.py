"""The dead-letter store: what came from outside and could not be taken in, kept whole."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from hub.model.base import utcnow
from hub.store.schema import dead_letters


@dataclass(frozen=True)
class DeadLetter:
    id: int
    source: str
    stream: str | None
    payload: str
    payload_format: str
    field_path: str | None
    reason: str
    created_at: datetime
    replayed_at: datetime | None

    def original(self) -> bytes | str:
        """The payload as it arrived (bytes that were not text come back as bytes)."""
        if self.payload_format == "base64":
            return base64.b64decode(self.payload)
        return self.payload


def _as_text(payload: bytes | str) -> tuple[str, str | None]:
    if isinstance(payload, str):
        return payload, None
    try:
        return payload.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"


def add_dead_letter(
    conn: Connection,
    *,
    source: str,
    payload: bytes | str,
    payload_format: str,
    reason: str,
    stream: str | None = None,
    field_path: str | None = None,
    at: datetime | None = None,
) -> int:
    """Keep the original payload; bytes that are not UTF-8 are stored base64, losslessly."""
    text, forced_format = _as_text(payload)
    result = conn.execute(
        dead_letters.insert().values(
            source=source,
            stream=stream,
            payload=text,
            payload_format=forced_format or payload_format,
            field_path=field_path,
            reason=reason,
            created_at=at or utcnow(),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def list_dead_letters(
    conn: Connection, source: str | None = None, *, pending_only: bool = True, limit: int = 100
) -> list[DeadLetter]:
    query = select(dead_letters).order_by(dead_letters.c.id).limit(limit)
    if source is not None:
        query = query.where(dead_letters.c.source == source)
    if pending_only:
        query = query.where(dead_letters.c.replayed_at.is_(None))
    return [DeadLetter(**dict(row)) for row in conn.execute(query).mappings()]


def mark_replayed(conn: Connection, letter_id: int, at: datetime | None = None) -> None:
    conn.execute(
        dead_letters.update()
        .where(dead_letters.c.id == letter_id)
        .values(replayed_at=at or utcnow())
    )
