"""Tongda style OA (通达) reached only through its database: the ``oa_task`` table.

The hub inserts a row per dispatched order (``task_no`` = its work-order number, unique, so
a repeated insert fails instead of duplicating) and polls ``status``/``updated_at``. The
only HTTP server is the control API, standing in for clerks clicking in Tongda's UI.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from hub.sandbox.desk import DeskAction, DeskInput, OASystem, Stage
from hub.sandbox.storage import format_time, now_local

#: Department stage → the value of ``oa_task.status``.
STATUS = {Stage.PENDING: 0, Stage.WORKING: 1, Stage.FINISHED: 2, Stage.RETURNED: 3}
STATUS_LABELS = {0: "待办", 1: "办理中", 2: "已办结", 3: "退回"}

# created_at/updated_at default to China time whatever the host's zone ('+8 hours').
SCHEMA = """
CREATE TABLE IF NOT EXISTS oa_task (
    id INTEGER PRIMARY KEY,
    task_no TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    content TEXT,
    urgency INTEGER NOT NULL DEFAULT 0,
    status INTEGER NOT NULL DEFAULT 0,
    handler TEXT,
    opinion TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now', '+8 hours')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now', '+8 hours'))
);
CREATE INDEX IF NOT EXISTS ix_oa_task_updated_at ON oa_task (updated_at, id);
"""


class LockRequest(BaseModel):
    seconds: float = Field(default=2.0, gt=0, le=60)


class TongdaSystem(OASystem):
    """The housing bureau's Tongda OA (connector ``tongda_housing``, kind sql)."""

    name = "tongda"
    title = "通达 OA（住建局，数据库对接）"
    schema = SCHEMA
    tables = ("oa_task",)

    def add_control_routes(self, router: APIRouter) -> None:
        super().add_control_routes(router)
        router.add_api_route("/lock", self.lock, methods=["POST"])

    def health(self) -> dict[str, Any]:
        return {**super().health(), "url": f"sqlite:///{self.store.path}", "table": "oa_task"}

    def lock(self, body: LockRequest) -> dict[str, Any]:
        """Hold the database's write lock for a while, as a long Tongda batch job would."""
        ready = threading.Event()

        def hold() -> None:
            conn = sqlite3.connect(self.store.path, timeout=10, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                ready.set()
                time.sleep(body.seconds)
                conn.execute("COMMIT")
            finally:
                ready.set()
                conn.close()

        threading.Thread(target=hold, name="tongda-lock", daemon=True).start()
        ready.wait(timeout=10)
        return {"locked_seconds": body.seconds}

    # --- department desk ------------------------------------------------------------------

    def find_task(self, key: str, by_wo_no: bool) -> int | None:
        if by_wo_no:
            return self.store.scalar("SELECT id FROM oa_task WHERE task_no = ?", (key,))
        if not key.isdigit():
            return None
        return self.store.scalar("SELECT id FROM oa_task WHERE id = ?", (int(key),))

    def stage_of(self, task_id: Any) -> Stage:
        status = self.store.scalar("SELECT status FROM oa_task WHERE id = ?", (task_id,))
        return next(stage for stage, value in STATUS.items() if value == status)

    def apply(self, task_id: Any, action: DeskAction, to: Stage, data: DeskInput) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE oa_task SET status = ?, handler = ?, opinion = ?, updated_at = ?"
                " WHERE id = ?",
                (STATUS[to], data.operator, data.opinion, format_time(now_local()), task_id),
            )

    def describe(self, task_id: Any) -> dict[str, Any]:
        row = self.store.row("SELECT * FROM oa_task WHERE id = ?", (task_id,))
        assert row is not None
        return {**row, "status_label": STATUS_LABELS.get(row["status"], "未知")}

    def list_tasks(self) -> list[dict[str, Any]]:
        return [self.describe(r["id"]) for r in self.store.rows("SELECT id FROM oa_task")]
