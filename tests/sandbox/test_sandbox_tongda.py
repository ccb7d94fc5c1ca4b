"""Tongda OA through its database only: the hub writes and polls ``oa_task`` with SQL."""

from __future__ import annotations

import sqlite3
import time

import pytest
import requests
from sandbox_helpers import control

from hub.sandbox import Sandbox

#: The sandbox fixtures: running, sb (reset before each test), weaver, hebei.
pytest_plugins = ["sandbox_fixtures"]


def connect(sb: Sandbox, timeout: float = 5) -> sqlite3.Connection:
    assert sb.tongda_database is not None
    return sqlite3.connect(sb.tongda_database, timeout=timeout, isolation_level=None)


def dispatch(sb: Sandbox, task_no: str) -> int:
    """What the hub's SQL connector does: one insert, values bound."""
    with connect(sb) as conn:
        cursor = conn.execute(
            "INSERT INTO oa_task (task_no, title, content, urgency) VALUES (?, ?, ?, ?)",
            (task_no, "楼道堆放杂物", "某小区楼道长期堆放杂物，存在消防隐患。", 1),
        )
        return int(cursor.lastrowid or 0)


def test_the_table_has_the_documented_shape(sb: Sandbox) -> None:
    with connect(sb) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(oa_task)")]
    assert columns == [
        "id", "task_no", "title", "content", "urgency", "status", "handler", "opinion",
        "created_at", "updated_at",
    ]  # fmt: skip
    health = control(sb, "tongda", "GET", "/health")
    assert health["url"].startswith("sqlite:///")


def test_insert_defaults_and_unique_task_number(sb: Sandbox) -> None:
    task_id = dispatch(sb, "JK-20")
    with connect(sb) as conn:
        status, created = conn.execute(
            "SELECT status, created_at FROM oa_task WHERE id = ?", (task_id,)
        ).fetchone()
        assert status == 0
        assert time.strptime(created, "%Y-%m-%d %H:%M:%S")
        with pytest.raises(sqlite3.IntegrityError):
            dispatch(sb, "JK-20")


def test_department_actions_update_the_status_column(sb: Sandbox) -> None:
    task_id = dispatch(sb, "JK-21")
    control(sb, "tongda", "POST", f"/tasks/{task_id}/sign", json={"operator": "孙科长"})
    with connect(sb) as conn:
        assert conn.execute("SELECT status, handler FROM oa_task").fetchone() == (1, "孙科长")
    done = control(sb, "tongda", "POST", "/by-wo-no/JK-21/finish", json={"opinion": "已清理"})
    assert (done["status"], done["status_label"]) == (2, "已办结")
    with connect(sb) as conn:
        assert conn.execute("SELECT status, opinion FROM oa_task").fetchone() == (2, "已清理")


def test_return_sets_status_three_with_reason(sb: Sandbox) -> None:
    dispatch(sb, "JK-22")
    control(sb, "tongda", "POST", "/by-wo-no/JK-22/return", json={"opinion": "属社区物业管理"})
    with connect(sb) as conn:
        assert conn.execute("SELECT status, opinion FROM oa_task").fetchone() == (
            3,
            "属社区物业管理",
        )
    unknown = requests.post(f"{sb.urls['tongda']}/_sandbox/by-wo-no/JK-404/sign", timeout=5)
    assert unknown.status_code == 404


def test_lock_makes_writers_wait(sb: Sandbox) -> None:
    control(sb, "tongda", "POST", "/lock", json={"seconds": 0.5})
    conn = connect(sb, timeout=0.05)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("INSERT INTO oa_task (task_no, title) VALUES ('JK-23', '锁表')")
    conn.close()
    time.sleep(0.6)
    assert dispatch(sb, "JK-24") > 0
