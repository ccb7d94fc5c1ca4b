"""Updates through the driver (hub.store.bulk.update_rows), as a work order's version guard
uses them: matched on several columns, values converted as SQLAlchemy converts them, and
the count of rows changed summed over the batch — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import ColumnElement, Engine, delete, insert, select

from hub.store import bulk
from hub.store.bulk import update_rows
from hub.store.db import transaction
from hub.store.schema import processed_messages

BEFORE = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
AFTER = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
KEYS = ("consumer", "message_id")


def _rows(engine: Engine) -> dict[tuple[str, str], datetime]:
    with engine.connect() as conn:
        found = conn.execute(select(processed_messages).where(_ours()))
        return {(r.consumer, r.message_id): r.processed_at for r in found}


def _ours() -> ColumnElement[bool]:
    return processed_messages.c.consumer.in_(["bulk-a", "bulk-b"])


def _start(engine: Engine) -> None:
    with transaction(engine) as conn:
        conn.execute(delete(processed_messages).where(_ours()))
        conn.execute(
            insert(processed_messages),
            [
                {"consumer": c, "message_id": m, "processed_at": BEFORE}
                for c, m in [("bulk-a", "1"), ("bulk-a", "2"), ("bulk-b", "1")]
            ],
        )


def test_only_rows_matching_every_key_change_and_are_counted(engine: Engine) -> None:
    _start(engine)
    wanted = [(AFTER, "bulk-a", "1"), (AFTER, "bulk-b", "1"), (AFTER, "bulk-a", "9")]
    with transaction(engine) as conn:
        changed = update_rows(conn, processed_messages, KEYS, ("processed_at",), wanted)
    assert changed == 2  # ("bulk-a", "9") matches nothing: a guard that failed
    rows = _rows(engine)
    assert rows[("bulk-a", "1")] == rows[("bulk-b", "1")] == AFTER  # stored as UTC
    assert rows[("bulk-a", "2")] == BEFORE


def test_one_key_and_no_rows(engine: Engine) -> None:
    _start(engine)
    with transaction(engine) as conn:
        assert update_rows(conn, processed_messages, "consumer", ("processed_at",), []) == 0
        one = update_rows(
            conn, processed_messages, "consumer", ("processed_at",), [(AFTER, "bulk-a")]
        )
    assert one == 2
    assert sorted(k for k, v in _rows(engine).items() if v == AFTER) == [
        ("bulk-a", "1"),
        ("bulk-a", "2"),
    ]


def test_an_update_rolls_back_with_its_transaction(engine: Engine) -> None:
    _start(engine)
    with pytest.raises(RuntimeError), transaction(engine) as conn:
        update_rows(conn, processed_messages, KEYS, ("processed_at",), [(AFTER, "bulk-a", "1")])
        raise RuntimeError("the round failed")
    assert set(_rows(engine).values()) == {BEFORE}


def test_select_in_with_fixed_columns_finds_only_that_consumers_ids(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """settled_ids' lookup: ids among the values, and only where the other columns match —
    however many statements the values take (the fixed values count against SQLite's limit)."""
    _start(engine)
    monkeypatch.setattr(bulk, "_variable_limit", lambda _conn: 3)
    ids = ["1", "2", "3", "4", "5"]

    def settled(consumer: str, wanted: list[str]) -> list[tuple[str, ...]]:
        with engine.connect() as conn:
            return bulk.select_in(
                conn,
                processed_messages,
                ("message_id",),
                "message_id",
                wanted,
                where={"consumer": consumer},
            )

    a, b, none = settled("bulk-a", ids), settled("bulk-b", ids), settled("bulk-a", [])
    assert sorted(a) == [("1",), ("2",)]
    assert b == [("1",)]
    assert none == []
