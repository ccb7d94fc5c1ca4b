"""The store on real databases: every test that takes `engine` runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from conftest import submission
from sqlalchemy import Connection, Engine, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from hub.model.codes import EventAction
from hub.model.work_order import WorkOrderSubmission
from hub.services.catalogue import Catalogue, read_catalogue
from hub.services.intake import (
    TOPIC_RECEIVED,
    IntakeError,
    NewOrder,
    Receipt,
    receive,
    receive_many,
)
from hub.store import api_keys, idempotency
from hub.store import work_orders as repo
from hub.store.db import after_commit, make_engine, savepoint, transaction
from hub.store.migrate import alembic_config, current_revision, upgrade
from hub.store.outbox import outbox_row
from hub.store.schema import api_keys as api_keys_table
from hub.store.schema import events, idempotency_keys, outbox, work_orders

NOW = datetime(2025, 3, 1, 17, 30, 12, 345678, tzinfo=UTC)  # 2025-03-02 01:30 in Shanghai
SHANGHAI = timezone(timedelta(hours=8))


class Boom(Exception):
    """Raised on purpose inside a transaction to make it fail."""


@pytest.fixture
def catalogue(engine: Engine) -> Catalogue:
    return read_catalogue(engine)


def make_submission(**overrides: Any) -> WorkOrderSubmission:
    return WorkOrderSubmission.model_validate(submission(**overrides))


def do_receive(
    conn: Connection,
    catalogue: Catalogue,
    now: datetime = NOW,
    **overrides: Any,
) -> Receipt:
    return receive(
        conn,
        make_submission(**overrides),
        actor="portal:test",
        catalogue=catalogue,
        now=now,
        response_minutes=30,
    )


def counts(conn: Connection) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        conn.execute(select(func.count()).select_from(table)).scalar_one()
        for table in (work_orders, events, outbox)
    )


def head_revision(engine: Engine) -> str:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None
    return head


# --- intake: one transaction --------------------------------------------------------------


def test_receive_writes_order_event_and_outbox_together(
    engine: Engine, catalogue: Catalogue
) -> None:
    with engine.begin() as conn:
        receipt = do_receive(conn, catalogue)
    with engine.connect() as conn:
        order = conn.execute(select(work_orders).where(work_orders.c.wo_no == receipt.wo_no)).one()
        event_rows = conn.execute(select(events).where(events.c.wo_no == receipt.wo_no)).all()
        outbox_rows = conn.execute(select(outbox).where(outbox.c.key == receipt.wo_no)).all()
        assert counts(conn) == (1, 1, 1)
    assert order.status == "received"
    assert order.created_at == NOW
    assert len(event_rows) == 1
    event = event_rows[0]
    assert (event.seq, event.action, event.state_before, event.state_after, event.public) == (
        1,
        "received",
        None,
        "received",
        True,
    )
    assert event.at == NOW
    assert len(outbox_rows) == 1
    message = outbox_rows[0]
    assert message.topic == TOPIC_RECEIVED == "work_order.received"
    assert message.key == receipt.wo_no
    assert message.published_at is None
    assert message.attempts == 0
    assert message.payload["wo_no"] == receipt.wo_no


def test_failed_transaction_after_receive_leaves_nothing(
    engine: Engine, catalogue: Catalogue
) -> None:
    with pytest.raises(Boom), engine.begin() as conn:
        receipt = do_receive(conn, catalogue)
        # Inside the transaction all three rows are there ...
        assert counts(conn) == (1, 1, 1)
        assert repo.get_work_order(conn, receipt.wo_no) is not None
        raise Boom
    # ... and after the failure none of them is.
    with engine.connect() as conn:
        assert counts(conn) == (0, 0, 0)
        assert repo.get_work_order(conn, receipt.wo_no) is None
        assert conn.execute(select(outbox).where(outbox.c.key == receipt.wo_no)).first() is None


def test_wo_no_format_and_uniqueness(engine: Engine, catalogue: Catalogue) -> None:
    numbers = []
    with engine.begin() as conn:
        for _ in range(60):
            numbers.append(do_receive(conn, catalogue).wo_no)
        # Just before midnight UTC is already the next day in Shanghai.
        late = do_receive(conn, catalogue, now=datetime(2025, 12, 31, 16, 0, tzinfo=UTC)).wo_no
        early = do_receive(conn, catalogue, now=datetime(2025, 12, 31, 15, 59, tzinfo=UTC)).wo_no
    # Shanghai date of NOW is 2025-03-02 (UTC date is 2025-03-01).
    for wo_no in numbers:
        assert re.fullmatch(r"JK20250302\d{7}", wo_no), wo_no
    assert len(set(numbers)) == len(numbers)
    assert re.fullmatch(r"JK20260101\d{7}", late)
    assert re.fullmatch(r"JK20251231\d{7}", early)
    with engine.connect() as conn:
        stored = conn.execute(select(work_orders.c.wo_no)).scalars().all()
    assert sorted(stored) == sorted([*numbers, late, early])


def test_query_code_stored_only_as_sha256(engine: Engine, catalogue: Catalogue) -> None:
    with engine.begin() as conn:
        receipt = do_receive(conn, catalogue)
    code = receipt.query_code
    assert re.fullmatch(r"[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8}", code)
    with engine.connect() as conn:
        row = conn.execute(select(work_orders).where(work_orders.c.wo_no == receipt.wo_no)).one()
        related = [
            *conn.execute(select(events).where(events.c.wo_no == receipt.wo_no)).all(),
            *conn.execute(select(outbox).where(outbox.c.key == receipt.wo_no)).all(),
        ]
    assert row.query_code_hash == hashlib.sha256(code.encode()).hexdigest()
    for stored in (row, *related):
        for column, value in stored._mapping.items():
            assert code not in repr(value), f"clear query code found in column {column}"
            assert code.lower() not in repr(value).lower(), column


# --- events are append-only ----------------------------------------------------------------


def test_events_refuse_update_and_delete(engine: Engine, catalogue: Catalogue) -> None:
    with engine.begin() as conn:
        receipt = do_receive(conn, catalogue)
    query = select(events).where(events.c.wo_no == receipt.wo_no)
    with engine.connect() as conn:
        before = conn.execute(query).one()._asdict()

    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(events.update().where(events.c.wo_no == receipt.wo_no).values(note="edited"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET public = false WHERE wo_no = :w"), {"w": receipt.wo_no}
        )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(events.delete().where(events.c.wo_no == receipt.wo_no))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))

    with engine.connect() as conn:
        assert conn.execute(query).one()._asdict() == before
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 1


def test_events_refuse_truncate_on_postgres(engine: Engine, catalogue: Catalogue) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; DELETE FROM events is covered above")
    with engine.begin() as conn:
        do_receive(conn, catalogue)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("TRUNCATE events"))


def test_events_still_accept_appends(engine: Engine, catalogue: Catalogue) -> None:
    with engine.begin() as conn:
        receipt = do_receive(conn, catalogue)
        seq = repo.append_event(
            conn,
            receipt.wo_no,
            repo.NewEvent(
                action=EventAction.NOTE,
                actor="staff:x",
                state_before=None,
                state_after=None,
                public=False,
                note="内部备注",
            ),
            at=NOW + timedelta(minutes=1),
        )
    assert seq == 2
    with engine.connect() as conn:
        listed = repo.list_events(conn, receipt.wo_no, public_only=False)
        public = repo.list_events(conn, receipt.wo_no, public_only=True)
    assert [e.seq for e in listed] == [1, 2]
    assert [e.seq for e in public] == [1]


# --- duplicates ---------------------------------------------------------------------------


def test_duplicate_external_id_is_409_and_writes_nothing(
    engine: Engine, catalogue: Catalogue
) -> None:
    origin = {"channel": "hotline", "source_system": "hotline12345", "external_id": "RX-0001"}
    with engine.begin() as conn:
        first = do_receive(conn, catalogue, **origin)
    with engine.begin() as conn:
        before = counts(conn)
        with pytest.raises(IntakeError) as caught:
            do_receive(conn, catalogue, **origin)
        # Checked inside the same transaction: receive refused before writing anything.
        assert counts(conn) == before == (1, 1, 1)
    assert caught.value.status == 409
    assert caught.value.code == "duplicate_external_id"
    assert caught.value.details == {"wo_no": first.wo_no}
    # Same external id from another source system is a different request.
    with engine.begin() as conn:
        other = do_receive(conn, catalogue, **{**origin, "source_system": "hebei_net"})
        assert counts(conn) == (2, 2, 2)
    assert other.wo_no != first.wo_no


def test_unique_constraint_backs_the_dedup_check(engine: Engine, catalogue: Catalogue) -> None:
    """Two racing writers both pass the lookup; the database must still refuse the second."""
    origin = {"channel": "hotline", "source_system": "hotline12345", "external_id": "RX-0002"}
    with engine.begin() as conn:
        first = do_receive(conn, catalogue, **origin)
        row = dict(
            conn.execute(select(work_orders).where(work_orders.c.wo_no == first.wo_no))
            .one()
            ._mapping
        )
    row.pop("id")
    row["wo_no"] = "JK209901019999999"
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(work_orders.insert(), row)
    with engine.connect() as conn:
        assert counts(conn) == (1, 1, 1)


def new_orders(*external_ids: str | None) -> list[NewOrder]:
    return [
        NewOrder(
            make_submission(
                **(
                    {"channel": "hotline", "source_system": "hotline12345", "external_id": ext}
                    if ext
                    else {}
                )
            ),
            "hotline:test",
        )
        for ext in external_ids
    ]


def test_batch_with_a_repeated_external_id_stores_it_once(
    engine: Engine, catalogue: Catalogue
) -> None:
    with engine.begin() as conn:
        results = receive_many(
            conn,
            new_orders("RX-1", "RX-1", None),
            catalogue=catalogue,
            now=NOW,
            response_minutes=30,
        )
    first, repeated, other = results
    assert isinstance(first, Receipt) and isinstance(other, Receipt)
    assert isinstance(repeated, IntakeError)
    assert repeated.status == 409 and repeated.code == "duplicate_external_id"
    with engine.connect() as conn:
        assert counts(conn) == (2, 2, 2)
        assert repo.find_by_external_ids(conn, [("hotline12345", "RX-1")]) == {
            ("hotline12345", "RX-1"): first.wo_no
        }


def test_batch_repeat_names_the_order_it_duplicates(engine: Engine, catalogue: Catalogue) -> None:
    with engine.begin() as conn:
        first, repeated = receive_many(
            conn, new_orders("RX-2", "RX-2"), catalogue=catalogue, now=NOW, response_minutes=30
        )
    assert isinstance(first, Receipt) and isinstance(repeated, IntakeError)
    assert repeated.details == {"wo_no": first.wo_no}


def test_concurrent_writers_get_distinct_numbers(engine: Engine, catalogue: Catalogue) -> None:
    """Writers in parallel transactions (threads, one connection each) never share a wo_no."""

    def writer(_: int) -> list[str]:
        numbers = []
        for _ in range(10):
            with transaction(engine) as conn:
                numbers.append(do_receive(conn, catalogue).wo_no)
        return numbers

    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = [n for batch in pool.map(writer, range(4)) for n in batch]
    assert len(numbers) == len(set(numbers)) == 40
    with engine.connect() as conn:
        assert counts(conn) == (40, 40, 40)
        stored = set(conn.execute(select(work_orders.c.wo_no)).scalars())
    assert stored == set(numbers)


# --- UtcDateTime ----------------------------------------------------------------------------


def test_datetimes_round_trip_as_aware_utc(engine: Engine) -> None:
    local = datetime(2025, 3, 2, 1, 30, 12, 345678, tzinfo=SHANGHAI)
    with engine.begin() as conn:
        idempotency.save_response(conn, 1, "k-local", "h", 201, {"a": 1}, local)
        idempotency.save_response(conn, 1, "k-utc", "h", 201, {"a": 2}, NOW)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.created_at)).all()
        )
        if engine.dialect.name == "sqlite":
            raw = conn.exec_driver_sql(
                "SELECT created_at FROM idempotency_keys WHERE key = 'k-local'"
            ).scalar_one()
        else:
            raw = conn.exec_driver_sql(
                "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
                "FROM idempotency_keys WHERE key = 'k-local'"
            ).scalar_one()
    for value in rows.values():
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value == NOW
        assert value.replace(tzinfo=None) == datetime(2025, 3, 1, 17, 30, 12, 345678)
    # Stored as UTC, not as the local wall time it was given in.
    assert str(raw).startswith("2025-03-01 17:30:12.345678")


def test_naive_datetime_is_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive"), engine.begin() as conn:
        idempotency.save_response(conn, 1, "k", "h", 201, {}, datetime(2025, 3, 1, 12, 0))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one() == 0


# --- idempotency keys ------------------------------------------------------------------------


def test_idempotency_save_find_and_conflict(engine: Engine) -> None:
    body = {"wo_no": "JK202503020000001", "query_code": "ABCD2345", "nested": [1, "二"]}
    with engine.begin() as conn:
        assert idempotency.find_response(conn, 7, "key-1") is None
        idempotency.save_response(conn, 7, "key-1", "a" * 64, 201, body, NOW)
    with engine.connect() as conn:
        found = idempotency.find_response(conn, 7, "key-1")
        assert found == idempotency.StoredResponse("a" * 64, 201, body)
        # Keys are per API key: the same Idempotency-Key under another API key is unrelated.
        assert idempotency.find_response(conn, 8, "key-1") is None
        assert idempotency.find_response(conn, 7, "key-2") is None
    with pytest.raises(IntegrityError), engine.begin() as conn:
        idempotency.save_response(conn, 7, "key-1", "b" * 64, 200, {"other": True}, NOW)
    with engine.begin() as conn:
        idempotency.save_response(conn, 8, "key-1", "c" * 64, 201, {}, NOW)
    with engine.connect() as conn:
        assert idempotency.find_response(conn, 7, "key-1") == found


def test_idempotency_purge_removes_only_expired(engine: Engine) -> None:
    ttl = timedelta(hours=24)
    ages = {
        "fresh": timedelta(hours=1),
        "edge": timedelta(hours=23, minutes=59),
        "old": timedelta(hours=25),
        "ancient": timedelta(days=30),
    }
    with engine.begin() as conn:
        for key, age in ages.items():
            idempotency.save_response(conn, 1, key, "h", 201, {}, NOW - age)
    with engine.begin() as conn:
        removed = idempotency.purge_expired(conn, NOW, ttl)
    assert removed == 2
    with engine.connect() as conn:
        left = set(conn.execute(select(idempotency_keys.c.key)).scalars())
    assert left == {"fresh", "edge"}
    with engine.begin() as conn:
        assert idempotency.purge_expired(conn, NOW, ttl) == 0


# --- API keys ----------------------------------------------------------------------------------


def test_api_key_stored_only_as_hash(engine: Engine) -> None:
    with engine.begin() as conn:
        record, clear = api_keys.create_key(conn, "portal-app", "portal")
    assert clear.startswith("jk_") and len(clear) > 30
    assert record.scope == "portal" and record.name == "portal-app"
    assert record.revoked_at is None
    with engine.connect() as conn:
        row = conn.execute(select(api_keys_table).where(api_keys_table.c.id == record.id)).one()
    assert row.key_hash == hashlib.sha256(clear.encode()).hexdigest()
    assert clear.startswith(row.prefix) and len(row.prefix) < len(clear) // 2
    for column, value in row._mapping.items():
        assert clear not in repr(value), f"clear key stored in {column}"


def test_api_key_find_and_revoke(engine: Engine) -> None:
    with engine.begin() as conn:
        portal, portal_clear = api_keys.create_key(conn, "app", "portal")
        unit, unit_clear = api_keys.create_key(conn, "env", "unit:JKQ-HBJ")
    assert portal_clear != unit_clear
    with engine.connect() as conn:
        found = api_keys.find_active_key(conn, portal_clear)
        assert found is not None and found.id == portal.id and found.scope == "portal"
        assert found.unit_code is None
        found_unit = api_keys.find_active_key(conn, unit_clear)
        assert found_unit is not None and found_unit.unit_code == "JKQ-HBJ"
        assert api_keys.find_active_key(conn, portal_clear + "x") is None
        assert api_keys.find_active_key(conn, portal.prefix) is None
    with engine.begin() as conn:
        assert api_keys.revoke_key(conn, name="app") == 1
    with engine.connect() as conn:
        assert api_keys.find_active_key(conn, portal_clear) is None
        assert api_keys.find_active_key(conn, unit_clear) is not None
        listed = {k.name: k for k in api_keys.list_keys(conn)}
    assert listed["app"].revoked_at is not None
    assert listed["env"].revoked_at is None
    with engine.begin() as conn:
        assert api_keys.revoke_key(conn, name="app") == 0
        assert api_keys.revoke_key(conn, key_id=unit.id) == 1
    with engine.connect() as conn:
        assert api_keys.find_active_key(conn, unit_clear) is None


@pytest.mark.parametrize("scope", ["portal", "staff", "admin", "unit:JKQ-HBJ", "unit:JKQ-T01-V02"])
def test_validate_scope_accepts(scope: str) -> None:
    assert api_keys.validate_scope(scope) == scope


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "root",
        "Portal",
        "portal ",
        " staff",
        "staff,admin",
        "unit:",
        "unit:jkq-hbj",
        "unit:JKQ HBJ",
        "unit:JKQ-HBJ;drop",
        "unit",
        "admin:JKQ",
        "UNIT:JKQ-HBJ",
    ],
)
def test_validate_scope_rejects(scope: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        api_keys.validate_scope(scope)


def test_create_key_with_bad_scope_writes_nothing(engine: Engine) -> None:
    with pytest.raises(ValueError), engine.begin() as conn:
        api_keys.create_key(conn, "x", "superuser")
    with engine.connect() as conn:
        assert api_keys.list_keys(conn) == []


# --- migrations -----------------------------------------------------------------------------


def sqlite_schema(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            )
        ]


def test_current_revision_is_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)


def test_upgrade_on_new_sqlite_file_and_again_is_a_noop(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'hub.db'}")
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        tables = set(inspect(engine).get_table_names())
        assert {
            "work_orders",
            "events",
            "outbox",
            "api_keys",
            "idempotency_keys",
            "org_units",
            "categories",
            "portal_sections",
            "hotlines",
        } <= tables
        with engine.begin() as conn:
            api_keys.create_key(conn, "keep-me", "staff")
        schema = sqlite_schema(engine)
        assert any(kind == "trigger" for kind, *_ in schema)
        upgrade(engine)
        assert sqlite_schema(engine) == schema
        assert current_revision(engine) == head_revision(engine)
        with engine.connect() as conn:
            assert [k.name for k in api_keys.list_keys(conn)] == ["keep-me"]
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(engine: Engine, catalogue: Catalogue) -> None:
    config = alembic_config(engine)
    command.downgrade(config, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert current_revision(engine) == head_revision(engine)
    # The rebuilt schema works, append-only trigger included.
    with engine.begin() as conn:
        assert counts(conn) == (0, 0, 0)
        receipt = do_receive(conn, catalogue)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(events.delete().where(events.c.wo_no == receipt.wo_no))


# --- SQLite engine settings -------------------------------------------------------------------


def test_sqlite_engine_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        # Every pooled connection gets the pragmas, not only the first one.
        connections = [engine.connect() for _ in range(3)]
        try:
            for conn in connections:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        finally:
            for conn in connections:
                conn.close()
        with engine.begin() as conn:
            api_keys.create_key(conn, "w", "staff")
        assert (tmp_path / "wal.db-wal").exists()
        # The file itself is in WAL mode (persistent), seen by a plain connection too.
        plain = sqlite3.connect(path)
        try:
            assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            plain.close()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    """An event for an order that does not exist is refused (SQLite needs the pragma)."""
    with pytest.raises(IntegrityError), engine.begin() as conn:
        repo.append_event(
            conn,
            "JK209901010000001",
            repo.NewEvent(
                action=EventAction.RECEIVED, actor="x", state_before=None, state_after=None
            ),
            at=NOW,
            seq=1,
        )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0


def test_migrations_build_exactly_the_declared_schema(engine: Engine) -> None:
    """A column added to schema.py without a migration (or the reverse) shows up here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hub.store.schema import metadata

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_a_failed_savepoint_drops_its_writes_and_its_after_commit_actions(engine: Engine) -> None:
    """What a savepoint wrote and registered goes when it fails; the rest commits."""
    ran: list[str] = []
    now = datetime.now(UTC)
    with transaction(engine) as conn:
        conn.execute(outbox.insert(), outbox_row("t.kept", "kept", {}, now))
        after_commit(conn, lambda: ran.append("kept"))
        with pytest.raises(RuntimeError), savepoint(conn):
            conn.execute(outbox.insert(), outbox_row("t.dropped", "dropped", {}, now))
            after_commit(conn, lambda: ran.append("dropped"))
            raise RuntimeError("the part fails")
        with savepoint(conn):
            after_commit(conn, lambda: ran.append("after"))
    with engine.connect() as conn:
        keys = conn.execute(select(outbox.c.key).where(outbox.c.topic.like("t.%"))).scalars()
        assert list(keys) == ["kept"]
    assert ran == ["kept", "after"]


def test_nested_savepoints_and_a_database_error_inside_one(engine: Engine) -> None:
    """An inner savepoint that fails leaves its outer one whole; after a refused statement
    (a duplicate message id) the transaction goes on — PostgreSQL too, where an error
    otherwise aborts the whole transaction."""
    now = datetime.now(UTC)
    with transaction(engine) as conn:
        conn.execute(outbox.insert(), outbox_row("t.first", "first", {}, now))
        taken = conn.execute(select(outbox.c.message_id)).scalar_one()
        with savepoint(conn):
            conn.execute(outbox.insert(), outbox_row("t.outer", "outer", {}, now))
            with pytest.raises(RuntimeError), savepoint(conn):
                conn.execute(outbox.insert(), outbox_row("t.inner", "inner", {}, now))
                raise RuntimeError("the inner part fails")
        duplicate = {**outbox_row("t.twin", "twin", {}, now), "message_id": taken}
        with pytest.raises(IntegrityError), savepoint(conn):
            conn.execute(outbox.insert(), duplicate)
        conn.execute(outbox.insert(), outbox_row("t.last", "last", {}, now))
    with engine.connect() as conn:
        keys = conn.execute(select(outbox.c.key).order_by(outbox.c.id)).scalars()
        assert list(keys) == ["first", "outer", "last"]
