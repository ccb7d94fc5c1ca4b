"""Load reference data into the store; a second load with the same files changes nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, select

from hub.reference import ReferenceData
from hub.store import schema


@dataclass
class SyncCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: SyncCounts) -> SyncCounts:
        return SyncCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def upsert_rows(
    conn: Connection, table: Table, key: str, rows: Iterable[dict[str, Any]]
) -> SyncCounts:
    """Insert new rows, update changed ones, leave equal ones alone (no write at all)."""
    key_column = table.c[key]
    existing = {row[key]: dict(row) for row in conn.execute(select(table)).mappings()}
    counts = SyncCounts()
    for row in rows:
        current = existing.get(row[key])
        if current is None:
            conn.execute(table.insert().values(**row))
            counts.inserted += 1
        elif any(current.get(column) != value for column, value in row.items()):
            conn.execute(table.update().where(key_column == row[key]).values(**row))
            counts.updated += 1
        else:
            counts.unchanged += 1
    return counts


def load_reference_data(conn: Connection, data: ReferenceData) -> dict[str, SyncCounts]:
    return {
        "org_units": upsert_rows(
            conn, schema.org_units, "code", (u.model_dump(mode="json") for u in data.units)
        ),
        "portal_sections": upsert_rows(
            conn, schema.portal_sections, "code", (s.model_dump(mode="json") for s in data.sections)
        ),
        "categories": upsert_rows(
            conn, schema.categories, "code", (c.model_dump(mode="json") for c in data.categories)
        ),
        "hotlines": upsert_rows(
            conn,
            schema.hotlines,
            "number",
            (h.model_dump(mode="json") for h in data.hotlines.merged),
        ),
    }
