"""Run a workflow decision against the store: read, decide, write, all in one transaction.

The pure rules in hub.workflow.actions describe a `Change`; this module writes it — the
order row (guarded by its version, so two writers never both win), the assignments, the
events and the outbox messages — so a crash leaves either all of it or none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, and_, func, select, update

from hub.model.base import utcnow
from hub.model.codes import AssignmentState, DeliveryState
from hub.model.work_order import WorkOrder
from hub.store import work_orders as repo
from hub.store.db import transaction
from hub.store.schema import assignments, events, work_orders
from hub.workflow.actions import Change, NewAssignment

Decide = Callable[[Connection, WorkOrder], Change]


class NotFound(LookupError):
    """No such work order."""


class Conflict(RuntimeError):
    """Another writer changed the order first; read it again and decide again."""


def _column(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def dispatch_key(conn: Connection, wo_no: str, unit_code: str) -> str:
    """The work-order number, with -2, -3 … when the same unit gets the order again."""
    earlier = conn.execute(
        select(func.count())
        .select_from(assignments)
        .where(and_(assignments.c.wo_no == wo_no, assignments.c.unit_code == unit_code))
    ).scalar_one()
    return wo_no if earlier == 0 else f"{wo_no}-{earlier + 1}"


def _assignment_row(
    conn: Connection, wo_no: str, plan: NewAssignment, now: datetime
) -> dict[str, Any]:
    return {
        "wo_no": wo_no,
        "unit_code": plan.unit_code,
        "role": plan.role.value,
        "state": AssignmentState.PENDING.value,
        "delivery_state": DeliveryState.PENDING.value,
        "connector": plan.connector,
        "due_at": plan.due_at,
        "return_count": 0,
        "attempts": 0,
        "dispatch_key": plan.dispatch_key or dispatch_key(conn, wo_no, plan.unit_code),
        "created_at": now,
        "updated_at": now,
    }


def write_change(conn: Connection, order: WorkOrder, change: Change, now: datetime) -> None:
    """Write one change in the caller's transaction; Conflict if the order moved on."""
    values: dict[str, Any] = {
        "status": change.status.value,
        "updated_at": now,
        "version": order.version + 1,
    }
    values.update({key: _column(value) for key, value in change.fields.items()})
    written = conn.execute(
        update(work_orders)
        .where(and_(work_orders.c.wo_no == order.wo_no, work_orders.c.version == order.version))
        .values(**values)
    )
    if written.rowcount != 1:
        raise Conflict(order.wo_no)
    for extra in change.on_write:
        extra(conn)
    for assignment_id, fields in change.assignment_updates.items():
        conn.execute(
            update(assignments)
            .where(assignments.c.id == assignment_id)
            .values(**fields, updated_at=now)
        )
    for plan in change.new_assignments:
        conn.execute(assignments.insert(), [_assignment_row(conn, order.wo_no, plan, now)])
    if change.events:
        last = conn.execute(
            select(func.coalesce(func.max(events.c.seq), 0)).where(events.c.wo_no == order.wo_no)
        ).scalar_one()
        repo.insert_events(
            conn,
            [
                repo.event_row(order.wo_no, last + offset, event, now)
                for offset, event in enumerate(change.events, start=1)
            ],
        )
    for wo_no, event in change.related_events:
        repo.append_event(conn, wo_no, event, now)
    if change.messages:
        repo.insert_outbox(
            conn, [repo.outbox_row(m.topic, m.key, m.payload, now) for m in change.messages]
        )


def load(conn: Connection, wo_no: str) -> WorkOrder:
    order = repo.get_work_order(conn, wo_no)
    if order is None:
        raise NotFound(wo_no)
    return order


def apply(
    engine: Engine,
    wo_no: str,
    decide: Decide,
    *,
    now: datetime | None = None,
    tries: int = 5,
) -> tuple[WorkOrder, Change]:
    """Decide on a read, then write under the writer lock, deciding again if another
    writer changed the order in between (the version guard in write_change).

    Reading and deciding outside the write transaction keeps SQLite's single writer lock
    for the writes alone. `decide` may read through the connection it gets; writes it
    needs go in `Change.on_write`. Returns the order as decided on and the change.
    """
    for attempt in range(tries):
        with engine.connect() as conn:
            order = load(conn, wo_no)
            change = decide(conn, order)
        try:
            with transaction(engine) as conn:
                write_change(conn, order, change, now or utcnow())
            return order, change
        except Conflict:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def run(
    engine: Engine,
    wo_no: str,
    decide: Decide,
    *,
    now: datetime | None = None,
    tries: int = 5,
) -> tuple[WorkOrder, Change]:
    """Like apply, but returns the order as it is after the change (for the API's answer)."""
    _, change = apply(engine, wo_no, decide, now=now, tries=tries)
    with engine.connect() as conn:
        return load(conn, wo_no), change
