"""The merged hotline centre's agent system (热线坐席系统) over REST.

New orders are read with ``GET /api/orders`` (paged, incremental by ``callTime``) and
answers written back with ``POST /api/orders/{orderNo}/reply`` — idempotent per order: a
repeat is acknowledged as a duplicate and stored once. The ``X-API-Key`` header is
required. The centre can be switched to GBK, as older Chinese systems are, declaring the
charset in Content-Type and expecting request bodies in their declared charset.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from hub.sandbox.base import SandboxSystem, json_response
from hub.sandbox.storage import TIME_FORMAT, format_time, now_local

API_KEY = "hotline-sandbox-key"
AppealWord = Literal["咨询", "求助", "投诉", "举报", "建议", "表扬"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS hotline_order (
    order_no TEXT PRIMARY KEY,
    hotline TEXT NOT NULL,
    call_time TEXT NOT NULL,
    caller_name TEXT,
    caller_mobile TEXT,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    address TEXT
);
CREATE INDEX IF NOT EXISTS ix_hotline_order_call_time ON hotline_order (call_time, order_no);
CREATE TABLE IF NOT EXISTS reply (
    order_no TEXT PRIMARY KEY,
    reply_content TEXT NOT NULL,
    reply_time TEXT NOT NULL,
    handler TEXT NOT NULL,
    received_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1
);
"""

#: (source hotline, appeal type, content, address) — the stories of SCENARIOS.md and more.
STORIES = (
    ("12345", "咨询", "经开区哪里办理营业执照变更？", "经开区政务服务中心"),
    ("12369", "投诉", "某路口工地夜间施工，噪声很大，影响休息。", "经开区某路与某街交叉口"),
    ("12345", "举报", "渣土车沿路撒漏泥土，道路脏乱。", "经开区某路东段"),
    ("12345", "求助", "村东头三盏路灯不亮，夜间出行不便。", "永安镇前进村东头"),
    ("12315", "投诉", "超市出售过期食品，商家拒绝退换。", "明德街道惠民超市"),
    ("12333", "咨询", "灵活就业人员如何缴纳养老保险？", ""),
    ("12345", "建议", "建议在学府社区门口增设公交站点。", "明德街道学府社区"),
    ("12345", "表扬", "锦绣花园社区工作人员热心帮助独居老人。", "锦绣街道锦绣花园社区"),
)
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军")


class Caller(BaseModel):
    name: str = ""
    mobile: str = ""


class OrderIn(BaseModel):
    """A hotline order as the control API adds it; blanks are filled in."""

    orderNo: str | None = None
    hotline: str = "12345"
    callTime: str | None = None
    caller: Caller = Field(default_factory=Caller)
    type: AppealWord = "咨询"
    content: str = Field(min_length=1)
    address: str = ""


class OrdersIn(BaseModel):
    orders: list[OrderIn] = Field(default_factory=list)
    generate: int = Field(default=0, ge=0, le=100_000)
    seed: int = 12345


class ReplyIn(BaseModel):
    replyContent: str = Field(min_length=1)
    replyTime: str
    handler: str = Field(min_length=1)


class Settings(BaseModel):
    charset: Literal["utf-8", "gbk", "gb18030"] = "utf-8"


def generated_orders(count: int, seed: int) -> list[OrderIn]:
    """Deterministic orders drawn from the stories, callers with fictitious mobiles."""
    rng = random.Random(seed)
    orders = []
    for _ in range(count):
        hotline, kind, content, address = rng.choice(STORIES)
        caller = Caller(
            name=rng.choice(SURNAMES) + rng.choice(GIVEN),
            mobile=f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
        )
        orders.append(
            OrderIn(hotline=hotline, type=kind, content=content, address=address, caller=caller)
        )
    return orders


class HotlineSystem(SandboxSystem):
    """The response centre's hotline system (connector ``hotline_centre``)."""

    name = "hotline"
    title = "12345 热线坐席系统"
    entry = "/api/orders"
    schema = SCHEMA
    tables = ("hotline_order", "reply")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.settings = Settings()
        super().__init__(*args, **kwargs)

    def on_reset(self) -> None:
        self.settings = Settings()

    def respond(self, body: Any, status: int = 200) -> Response:
        return json_response(body, status, self.settings.charset)

    def error_response(self, status: int, message: str) -> Response:
        return self.respond({"code": status, "message": message}, status)

    def add_routes(self, app: FastAPI) -> None:
        app.add_api_route("/api/orders", self.list_orders, methods=["GET"])
        app.add_api_route("/api/orders/{order_no}/reply", self.reply, methods=["POST"])

    def add_control_routes(self, router: APIRouter) -> None:
        router.add_api_route("/orders", self.add_orders, methods=["POST"])
        router.add_api_route("/replies", self.replies, methods=["GET"])
        router.add_api_route("/settings", self.get_settings, methods=["GET"])
        router.add_api_route("/settings", self.set_settings, methods=["POST"])

    # --- real API -------------------------------------------------------------------------

    @staticmethod
    def _check_key(key: str | None) -> None:
        if key != API_KEY:
            raise HTTPException(401, "API 密钥无效 (invalid API key)")

    def list_orders(
        self,
        since: str = "",
        sinceNo: str = "",
        page: int = Query(1, ge=1),
        size: int = Query(50, ge=1, le=500),
        x_api_key: str | None = Header(default=None),
    ) -> Response:
        """Orders with ``callTime > since`` (or after the keyset ``(since, sinceNo)``)."""
        self._check_key(x_api_key)
        if sinceNo:
            where, args = "(call_time, order_no) > (?, ?)", [since, sinceNo]
        else:
            where, args = "call_time > ?", [since]
        total = self.store.scalar(f"SELECT COUNT(*) FROM hotline_order WHERE {where}", args)  # noqa: S608
        rows = self.store.rows(
            f"SELECT * FROM hotline_order WHERE {where}"  # noqa: S608
            " ORDER BY call_time, order_no LIMIT ? OFFSET ?",
            [*args, size, (page - 1) * size],
        )
        orders = [
            {
                "orderNo": r["order_no"],
                "hotline": r["hotline"],
                "callTime": r["call_time"],
                "caller": {"name": r["caller_name"], "mobile": r["caller_mobile"]},
                "type": r["type"],
                "content": r["content"],
                "address": r["address"],
            }
            for r in rows
        ]
        return self.respond(
            {"code": 0, "total": total, "page": page, "size": size, "orders": orders}
        )

    async def reply(
        self, order_no: str, request: Request, x_api_key: str | None = Header(default=None)
    ) -> Response:
        """Store the first reply for an order; acknowledge repeats without storing them."""
        self._check_key(x_api_key)
        charset = request.headers.get("content-type", "").partition("charset=")[2] or "utf-8"
        try:
            body = ReplyIn.model_validate(json.loads((await request.body()).decode(charset)))
        except (UnicodeDecodeError, LookupError, ValueError, ValidationError) as exc:
            raise HTTPException(
                400, f"请求体无效 (bad request body): {type(exc).__name__}"
            ) from None
        if self.store.row("SELECT 1 FROM hotline_order WHERE order_no = ?", (order_no,)) is None:
            raise HTTPException(404, "工单不存在 (no such order)")
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO reply (order_no, reply_content, reply_time, handler, received_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (order_no) DO UPDATE"
                " SET attempts = attempts + 1",
                (
                    order_no,
                    body.replyContent,
                    body.replyTime,
                    body.handler,
                    format_time(now_local()),
                ),
            )
            attempts = conn.execute(
                "SELECT attempts FROM reply WHERE order_no = ?", (order_no,)
            ).fetchone()[0]
        return self.respond(
            {"code": 0, "message": "成功", "data": {"orderNo": order_no, "duplicate": attempts > 1}}
        )

    # --- control API ----------------------------------------------------------------------

    def add_orders(self, body: OrdersIn) -> dict[str, Any]:
        """Add the given orders and ``generate`` more. Call times default to one second
        apart, ending about now and always after every earlier order, so new orders sort
        after a sync's cursor as they would in a live call centre."""
        orders = [*body.orders, *generated_orders(body.generate, body.seed)]
        now = now_local()
        count = self.store.scalar("SELECT COUNT(*) FROM hotline_order")
        latest = self.store.scalar("SELECT MAX(call_time) FROM hotline_order")
        start = now - timedelta(seconds=len(orders))
        if latest:
            start = max(start, datetime.strptime(latest, TIME_FORMAT) + timedelta(seconds=1))
        rows = []
        for i, order in enumerate(orders):
            number = order.orderNo or f"RX{now:%Y%m%d}{count + i + 1:06d}"
            call_time = order.callTime or format_time(start + timedelta(seconds=i))
            rows.append(
                (
                    number,
                    order.hotline,
                    call_time,
                    order.caller.name,
                    order.caller.mobile,
                    order.type,
                    order.content,
                    order.address,
                )
            )
        try:
            with self.store.transaction() as conn:
                conn.executemany(
                    "INSERT INTO hotline_order (order_no, hotline, call_time, caller_name,"
                    " caller_mobile, type, content, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.IntegrityError as exc:
            raise HTTPException(409, "工单编号已存在 (orderNo exists)") from exc
        return {"added": len(rows), "orderNos": [r[0] for r in rows]}

    def replies(self) -> list[dict[str, Any]]:
        return self.store.rows("SELECT * FROM reply ORDER BY received_at, order_no")

    def get_settings(self) -> Settings:
        return self.settings

    def set_settings(self, body: Settings) -> Settings:
        self.settings = body
        return self.settings
