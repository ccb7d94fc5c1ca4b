"""Seeyon A8 style OA (致远) over REST: token login, start a process, read flow state.

Every JSON reply has Seeyon's envelope ``{"code": 0, "message": …, "data": …}``; a non-zero
code with HTTP 200 is a business error (unknown template, missing subject), 401 a bad or
expired token. The hub sends its work-order number as ``hub_wo_no`` and can query by it.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from hub.sandbox.base import json_response
from hub.sandbox.desk import DeskAction, DeskInput, OASystem, Stage
from hub.sandbox.storage import format_time, now_local

USERS = {"hub": "seeyon-sandbox"}
TEMPLATES = {"JKQ_CGJ_SQ": "城管诉求办理单", "JKQ_CGJ_DB": "督办通知单"}
TOKEN_TTL_SECONDS = 1800
FIRST_FLOW_ID = 7_340_012_345_678_900_001

#: Department stage → (state code, state name, current node) as Seeyon reports them.
STATES = {
    Stage.PENDING: (0, "待处理", "收文登记"),
    Stage.WORKING: (1, "处理中", "承办处理"),
    Stage.RETURNED: (2, "已回退", "回退发起人"),
    Stage.FINISHED: (3, "已结束", "结束"),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS token (
    token TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flow (
    flow_id TEXT PRIMARY KEY,
    template_code TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    hub_wo_no TEXT,
    sender TEXT NOT NULL,
    stage TEXT NOT NULL,
    handler TEXT,
    opinion TEXT,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_flow_hub_wo_no ON flow (hub_wo_no);
CREATE INDEX IF NOT EXISTS ix_flow_update_time ON flow (update_time, flow_id);
"""


class ProcessStart(BaseModel):
    """The body of ``POST /seeyon/rest/bpm/process/start``."""

    templateCode: str
    subject: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    hub_wo_no: str | None = None


def ok(data: Any) -> Response:
    return json_response({"code": 0, "message": "成功", "data": data})


class SeeyonSystem(OASystem):
    """The urban-management bureau's Seeyon OA (connector ``seeyon_urban``)."""

    name = "seeyon"
    title = "致远 A8 OA（城管局）"
    entry = "/seeyon/rest/"
    schema = SCHEMA
    tables = ("token", "flow")

    def add_routes(self, app: FastAPI) -> None:
        app.add_api_route("/seeyon/rest/token/{user}/{password}", self.token, methods=["GET"])
        app.add_api_route("/seeyon/rest/bpm/process/start", self.start, methods=["POST"])
        app.add_api_route("/seeyon/rest/flow/state/{flow_id}", self.state, methods=["GET"])
        app.add_api_route("/seeyon/rest/flow/query", self.query, methods=["GET"])
        app.add_api_route("/seeyon/rest/flow/changed", self.changed, methods=["GET"])

    def add_control_routes(self, router: APIRouter) -> None:
        super().add_control_routes(router)
        router.add_api_route("/tokens/expire", self.expire_tokens, methods=["POST"])

    # --- real API -------------------------------------------------------------------------

    def token(self, user: str, password: str, request: Request) -> Response:
        """Plain-text token, or ``{"id": token}`` when the client accepts JSON."""
        if USERS.get(user) is None or not secrets.compare_digest(USERS[user], password):
            return json_response({"code": 401, "message": "用户名或密码错误 (bad login)"}, 401)
        value = secrets.token_hex(16)
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO token (token, user_name, expires_at) VALUES (?, ?, ?)",
                (value, user, time.time() + TOKEN_TTL_SECONDS),
            )
        if "application/json" in request.headers.get("accept", ""):
            return json_response({"id": value, "bindingUser": {"loginName": user}})
        return Response(value, media_type="text/plain; charset=utf-8")

    def _user(self, token: str | None) -> str:
        row = self.store.row(
            "SELECT user_name FROM token WHERE token = ? AND expires_at > ?",
            (token or "", time.time()),
        )
        if row is None:
            raise HTTPException(401, "token 无效或已过期 (invalid or expired token)")
        return str(row["user_name"])

    async def start(self, body: ProcessStart, token: str | None = Header(default=None)) -> Response:
        sender = self._user(token)
        if body.templateCode not in TEMPLATES:
            return json_response({"code": 1001, "message": "模板不存在 (unknown template)"})
        if not body.subject.strip():
            return json_response({"code": 1002, "message": "标题不能为空 (subject required)"})
        now = format_time(now_local())
        with self.store.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM flow").fetchone()[0]
            flow_id = str(FIRST_FLOW_ID + count)
            conn.execute(
                "INSERT INTO flow (flow_id, template_code, subject, data, hub_wo_no, sender,"
                " stage, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    flow_id,
                    body.templateCode,
                    body.subject,
                    json.dumps(body.data, ensure_ascii=False),
                    body.hub_wo_no,
                    sender,
                    Stage.PENDING.value,
                    now,
                    now,
                ),
            )
        return ok({"flowId": flow_id, "templateCode": body.templateCode})

    def state(self, flow_id: str, token: str | None = Header(default=None)) -> Response:
        self._user(token)
        if self.find_task(flow_id, by_wo_no=False) is None:
            return json_response({"code": 404, "message": "流程不存在 (no such flow)"}, 404)
        return ok(self.flow_state(flow_id))

    def query(
        self, hub_wo_no: str = Query(min_length=1), token: str | None = Header(default=None)
    ) -> Response:
        """Flows carrying a hub work-order number (more than one means a duplicate)."""
        self._user(token)
        rows = self.store.rows(
            "SELECT flow_id FROM flow WHERE hub_wo_no = ? ORDER BY create_time, flow_id",
            (hub_wo_no,),
        )
        return ok([self.flow_state(r["flow_id"]) for r in rows])

    def changed(
        self,
        since: str = "",
        page: int = Query(1, ge=1),
        size: int = Query(100, ge=1, le=1000),
        token: str | None = Header(default=None),
    ) -> Response:
        """Flows whose state changed at or after ``since`` (inclusive: repeat, never miss)."""
        self._user(token)
        total = self.store.scalar("SELECT COUNT(*) FROM flow WHERE update_time >= ?", (since,))
        rows = self.store.rows(
            "SELECT flow_id FROM flow WHERE update_time >= ? ORDER BY update_time, flow_id"
            " LIMIT ? OFFSET ?",
            (since, size, (page - 1) * size),
        )
        items = [self.flow_state(r["flow_id"]) for r in rows]
        return ok({"total": total, "page": page, "size": size, "items": items})

    def flow_state(self, flow_id: str) -> dict[str, Any]:
        row = self.store.row("SELECT * FROM flow WHERE flow_id = ?", (flow_id,))
        assert row is not None
        code, state_name, node = STATES[Stage(row["stage"])]
        return {
            "flowId": flow_id,
            "hub_wo_no": row["hub_wo_no"],
            "state": code,
            "stateName": state_name,
            "currentNode": node,
            "handler": row["handler"],
            "opinion": row["opinion"],
            "updateTime": row["update_time"],
        }

    # --- control API ----------------------------------------------------------------------

    def expire_tokens(self) -> dict[str, Any]:
        """Make every issued token stale, to exercise re-login."""
        with self.store.transaction() as conn:
            count = conn.execute("UPDATE token SET expires_at = 0").rowcount
        return {"expired": count}

    def find_task(self, key: str, by_wo_no: bool) -> str | None:
        column = "hub_wo_no" if by_wo_no else "flow_id"
        return self.store.scalar(
            f"SELECT flow_id FROM flow WHERE {column} = ? ORDER BY create_time LIMIT 1",  # noqa: S608
            (key,),
        )

    def stage_of(self, task_id: Any) -> Stage:
        return Stage(self.store.scalar("SELECT stage FROM flow WHERE flow_id = ?", (task_id,)))

    def apply(self, task_id: Any, action: DeskAction, to: Stage, data: DeskInput) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE flow SET stage = ?, handler = ?, opinion = ?, update_time = ?"
                " WHERE flow_id = ?",
                (to.value, data.operator, data.opinion, format_time(now_local()), task_id),
            )

    def describe(self, task_id: Any) -> dict[str, Any]:
        row = self.store.row("SELECT * FROM flow WHERE flow_id = ?", (task_id,))
        assert row is not None
        return {
            **self.flow_state(task_id),
            "stage": row["stage"],
            "templateCode": row["template_code"],
            "subject": row["subject"],
            "data": json.loads(row["data"]),
            "sender": row["sender"],
            "createTime": row["create_time"],
        }

    def list_tasks(self) -> list[dict[str, Any]]:
        rows = self.store.rows("SELECT flow_id FROM flow ORDER BY create_time, flow_id")
        return [self.describe(r["flow_id"]) for r in rows]
