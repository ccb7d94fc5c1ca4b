"""A month of work orders, cases and matters whose KPIs were worked out by hand.

October 2026 (local time; 1–7 October are holidays, Saturday 10 October is a make-up
working day). Office hours 08:30–17:30; a complaint is signed within 2 office hours.
The figures in EXPECTED were counted on paper from the rows below — see the comments.

WO-A  complaint, 13 Oct 09:00, answered 09:10 (within 30 min). HBJ lead: signed 10:00
      (due 11:12) on time, fed back 19 Oct, due 20 Oct → on time. CGJ co: signed 14:00
      (late), fed back 22 Oct, due 20 Oct → 2 working days overdue (21, 22). Replied
      22 Oct, revisited 23 Oct: satisfied (2).
WO-B  complaint, 14 Oct 09:00, answered 10:00 (late). ZJJ lead: never signed (due 12:00,
      late), returned 14 Oct. HBJ lead: dispatched 16:00, signed 16:30 (due 09:00 next
      day) on time, fed back 21 Oct 10:00 (due 21 Oct 17:30) on time; replied 21 Oct;
      revisited 22 Oct: dissatisfied (4) → reopened 22 Oct. HBJ again: signed 09:30 (due
      11:05), due 29 Oct, still open on 1 Nov → 1 working day overdue (30 Oct).
WO-C  consultation, 15 Oct 09:00, answered directly 09:20 (within); no unit.
WO-D  complaint from 30 Sep. HBJ: fed back 12 Oct 10:00, due 9 Oct → 2 days overdue
      (Saturday 10 Oct is worked, and 12 Oct); replied 12 Oct, never revisited.
Cases (food licences of SJJ, at most one visit), finished in October: K1 1 visit on
time, K2 2 visits late, K3 0 visits on time; K5 of an unknown matter, 1 visit; K4
finished in November (not counted).
Matters: SJJ has 3 in use — complete, no promised limit, untouched since 2025 — and one
deleted; HBJ has 1, complete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from matter_helpers import case, matter, store, store_cases
from sqlalchemy import Engine

from hub.model.base import LOCAL_ZONE
from hub.store.db import transaction
from hub.store.schema import assignments, events, work_orders

PERIOD = "2026-10"
AS_OF = datetime(2026, 11, 1, tzinfo=LOCAL_ZONE)


def t(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL_ZONE)


def _order(wo: str, created: datetime, appeal: str, responded: datetime) -> dict[str, Any]:
    due = created.replace(minute=created.minute + 30)
    return {
        "wo_no": wo,
        "query_code_hash": "0" * 64,
        "status": "in_progress",
        "channel": "app",
        "appeal_type": appeal,
        "title": "测试工单",
        "content": "测试",
        "urgency": "normal",
        "requester": {"name": "张三"},
        "attachments": [],
        "attributes": {},
        "sla": {"response_due": due.isoformat(), "responded_at": responded.isoformat()},
        "created_at": created,
        "updated_at": created,
        "version": 1,
    }


def _assignment(
    wo: str,
    unit: str,
    role: str,
    state: str,
    created: datetime,
    signed: datetime | None,
    due: datetime | None,
    fed_back: datetime | None,
) -> dict[str, Any]:
    return {
        "wo_no": wo,
        "unit_code": unit,
        "role": role,
        "state": state,
        "delivery_state": "delivered",
        "created_at": created,
        "updated_at": created,
        "dispatched_at": created,
        "signed_at": signed,
        "due_at": due,
        "fed_back_at": fed_back,
        "return_count": 1 if state == "returned" else 0,
        "attempts": 1,
    }


def _event(
    wo: str, seq: int, at: datetime, action: str, unit: str | None = None, **data: Any
) -> dict[str, Any]:
    return {
        "wo_no": wo,
        "seq": seq,
        "at": at,
        "actor": "test",
        "action": action,
        "public": True,
        "unit_code": unit,
        "data": data,
    }


ORDERS = [
    _order("WO-A", t(10, 13, 9), "complaint", t(10, 13, 9, 10)),
    _order("WO-B", t(10, 14, 9), "complaint", t(10, 14, 10)),
    _order("WO-C", t(10, 15, 9), "consultation", t(10, 15, 9, 20)),
    _order("WO-D", t(9, 30, 9), "complaint", t(9, 30, 9, 5)),
]
ASSIGNMENTS = [
    _assignment("WO-A", "JKQ-HBJ", "lead", "fed_back", t(10, 13, 9, 12), t(10, 13, 10),
                t(10, 20, 17, 30), t(10, 19, 15)),
    _assignment("WO-A", "JKQ-CGJ", "co", "fed_back", t(10, 13, 9, 12), t(10, 13, 14),
                t(10, 20, 17, 30), t(10, 22, 10)),
    _assignment("WO-B", "JKQ-ZJJ", "lead", "returned", t(10, 14, 10), None, t(10, 21, 17, 30),
                None),
    _assignment("WO-B", "JKQ-HBJ", "lead", "fed_back", t(10, 14, 16), t(10, 14, 16, 30),
                t(10, 21, 17, 30), t(10, 21, 10)),
    _assignment("WO-B", "JKQ-HBJ", "lead", "in_progress", t(10, 22, 9, 5), t(10, 22, 9, 30),
                t(10, 29, 17, 30), None),
    _assignment("WO-D", "JKQ-HBJ", "lead", "fed_back", t(9, 30, 9, 10), t(9, 30, 9, 30),
                t(10, 9, 17, 30), t(10, 12, 10)),
]  # fmt: skip
EVENTS = [
    _event("WO-A", 1, t(10, 19, 15), "feedback", "JKQ-HBJ"),
    _event("WO-A", 2, t(10, 22, 10), "feedback", "JKQ-CGJ"),
    _event("WO-A", 3, t(10, 22, 11), "replied"),
    _event("WO-A", 4, t(10, 23, 10), "revisited", satisfaction="2"),
    _event("WO-B", 1, t(10, 14, 15), "returned", "JKQ-ZJJ", reason="非本单位职责"),
    _event("WO-B", 2, t(10, 21, 10), "feedback", "JKQ-HBJ"),
    _event("WO-B", 3, t(10, 21, 11), "replied"),
    _event("WO-B", 4, t(10, 22, 9), "revisited", satisfaction="4"),
    _event("WO-B", 5, t(10, 22, 9), "reopened"),
    _event("WO-D", 1, t(10, 12, 10), "feedback", "JKQ-HBJ"),
    _event("WO-D", 2, t(10, 12, 11), "replied"),
]

#: measure → unit → value; rates as (numerator, denominator). "*" is the district.
EXPECTED: dict[str, dict[str, Any]] = {
    "received": {"JKQ-HBJ": 2, "JKQ-CGJ": 1, "JKQ-ZJJ": 1, "*": 2},
    "signed_on_time": {"JKQ-HBJ": (3, 3), "JKQ-CGJ": (0, 1), "JKQ-ZJJ": (0, 1), "*": (3, 5)},
    "answered_30min": {"JKQ-XYZX": (2, 3), "*": (2, 3)},
    "resolved_on_time": {"JKQ-HBJ": (2, 4), "JKQ-CGJ": (0, 1), "*": (2, 5)},
    "overdue_count": {"JKQ-HBJ": 2, "JKQ-CGJ": 1, "JKQ-ZJJ": 0, "*": 3},
    "overdue_days": {"JKQ-HBJ": 3, "JKQ-CGJ": 2, "*": 5},
    "returns": {"JKQ-ZJJ": 1, "JKQ-HBJ": 0, "*": 1},
    "reopen_rate": {"JKQ-HBJ": (1, 3), "*": (1, 3)},
    "satisfaction": {"JKQ-HBJ": (1, 2), "*": (1, 2)},
    "revisit_coverage": {"JKQ-HBJ": (2, 3), "*": (2, 3)},
    "matter_completeness": {"JKQ-SJJ": (1, 3), "JKQ-HBJ": (1, 1), "*": (2, 4)},
    "one_visit_rate": {"JKQ-SJJ": (2, 3), "*": (3, 4)},
    "promise_compliance": {"JKQ-SJJ": (2, 3), "*": (2, 3)},
}
UNITS = ["JKQ-CGJ", "JKQ-HBJ", "JKQ-SJJ", "JKQ-XYZX", "JKQ-ZJJ"]


def load(engine: Engine) -> None:
    """Write the month's rows into a migrated hub database."""
    with transaction(engine) as conn:
        conn.execute(work_orders.insert(), ORDERS)
        conn.execute(assignments.insert(), ASSIGNMENTS)
        conn.execute(events.insert(), EVENTS)
    food = matter("000001", "食品经营许可", changed_at=t(1, 5))
    store(
        engine,
        [
            food,
            matter("000002", "食品经营许可变更", changed_at=t(1, 5), promised_limit=None),
            matter("000003", "食品小作坊登记", changed_at=datetime(2025, 1, 1, tzinfo=LOCAL_ZONE)),
            matter("000004", "药品零售许可", changed_at=t(1, 5), status="deleted"),
            matter("000005", "排污许可", changed_at=t(1, 5), unit_code="JKQ-HBJ",
                   unit_name="经开区生态环境分局"),
        ],
    )  # fmt: skip
    code = food.implementation_code
    store_cases(
        engine,
        [
            case("K1", code, t(10, 12, 9), visits=1, finished_at=t(10, 16, 9)),
            case("K2", code, t(10, 12, 9), visits=2, finished_at=t(10, 30, 9)),  # due 26 Oct
            case("K3", code, t(10, 13, 9), visits=0, finished_at=t(10, 20, 9)),
            case("K4", code, t(10, 26, 9), visits=1, finished_at=t(11, 2, 9)),
            case("K5", "11130199MB0000000X000009", t(10, 12, 9), visits=1,
                 finished_at=t(10, 14, 9)),
        ],
    )  # fmt: skip
