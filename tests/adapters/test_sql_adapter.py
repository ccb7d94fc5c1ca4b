"""SQL adapter against real SQLite files: reflected identifiers, bound values, read-only,
statement timeout, writes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from servers import connector

from hub.adapters.errors import SqlRefused, TransportFailed
from hub.adapters.sql import SqlAdapter


@pytest.fixture
def tongda(tmp_path: Path) -> Path:
    path = tmp_path / "tongda.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE oa_task (id INTEGER PRIMARY KEY, title TEXT, status TEXT,"
            " update_time TEXT)"
        )
        db.executemany(
            "INSERT INTO oa_task (title, status, update_time) VALUES (?, ?, ?)",
            [(f"任务{i}", "new", f"2026-03-01 10:{i:02d}:00") for i in range(5)],
        )
    return path


def sql(path: Path, **fields: Any) -> SqlAdapter:
    return SqlAdapter(connector("sql", endpoint={"url": f"sqlite:///{path}"}, **fields))


def stream(**fields: Any) -> dict[str, Any]:
    return {"name": "tasks", "mapping": "m_tasks", **fields}


def count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM oa_task").fetchone()[0])


def test_table_stream_pages_after_cursor(tongda: Path) -> None:
    spec = stream(
        table="oa_task",
        columns=["id", "title", "update_time"],
        cursor={"field": "update_time", "type": "time"},
        paging={"kind": "offset", "size": 2},
    )
    adapter = sql(tongda, streams=[spec])
    page = adapter.fetch_page("tasks", "2026-03-01 10:01:00", None)
    assert [r["id"] for r in page.rows or []] == [3, 4]
    assert set((page.rows or [{}])[0]) == {"id", "title", "update_time"}
    assert page.next_token == "2"
    assert adapter.fetch_page("tasks", "2026-03-01 10:01:00", "2").rows == [
        {"id": 5, "title": "任务4", "update_time": "2026-03-01 10:04:00"}
    ]


@pytest.mark.parametrize(
    "spec",
    [
        stream(table="oa_task; DROP TABLE oa_task"),
        stream(table="oa_task", columns=["id", "title FROM oa_task; DROP TABLE oa_task; --"]),
        stream(table="oa_task", cursor={"field": "id) OR (1=1", "type": "id"}),
        stream(table="sqlite_master"),
    ],
)
def test_identifiers_checked_against_reflected_schema(tongda: Path, spec: dict[str, Any]) -> None:
    with pytest.raises(SqlRefused):
        sql(tongda, streams=[spec]).fetch_page("tasks", None, None)
    assert count(tongda) == 5


def test_cursor_value_injection_is_bound(tongda: Path) -> None:
    hostile = "z' OR '1'='1'; DROP TABLE oa_task; --"  # sorts after every real time
    table = sql(
        tongda, streams=[stream(table="oa_task", cursor={"field": "update_time", "type": "time"})]
    )
    assert table.fetch_page("tasks", hostile, None).rows == []
    query = sql(
        tongda,
        streams=[stream(query="SELECT id FROM oa_task WHERE update_time > :cursor ORDER BY id")],
    )
    assert query.fetch_page("tasks", hostile, None).rows == []
    assert count(tongda) == 5


def test_read_only_connection_refuses_writes(tongda: Path) -> None:
    adapter = sql(tongda, streams=[stream(query="DELETE FROM oa_task")])
    assert not adapter.writes
    with pytest.raises(SqlRefused, match="只读"):
        adapter.fetch_page("tasks", None, None)
    assert count(tongda) == 5


def test_statement_timeout(tongda: Path) -> None:
    forever = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    )
    adapter = sql(tongda, timeouts={"read": 0.2}, streams=[stream(query=forever)])
    started = time.monotonic()
    with pytest.raises(TransportFailed, match="超时"):
        adapter.fetch_page("tasks", None, None)
    assert time.monotonic() - started < 2


def test_insert_update_and_read_operations(tongda: Path) -> None:
    ops = [
        {"name": "create", "table": "oa_task", "write": "insert", "mapping": "m_row"},
        {
            "name": "custom_progress",
            "table": "oa_task",
            "write": "update",
            "key_columns": ["id"],
            "mapping": "m_row",
        },
        {"name": "status", "table": "oa_task", "mapping": "m_status"},
    ]
    adapter = sql(tongda, operations=ops)
    assert adapter.writes
    created = adapter.call("create", {"title": "新工单", "status": "new"}).data
    new_id = created["inserted"][0]
    assert adapter.call("custom_progress", {"id": new_id, "status": "done"}).data == {"updated": 1}
    rows = adapter.call("status", {"id": new_id}).data
    assert rows[0]["status"] == "done"
    with pytest.raises(SqlRefused):
        adapter.call("create", {"title": "x", "nonexistent": 1})
