"""Reply (回馈) back to the channel a request came from.

A request that came through a channel system (the hotline centre) gets its answer written
back through that system's `reply` operation; the portal and the app read the answer from
the API, so for them there is nothing to send. Writing the same reply again after a crash
overwrites it on the far side (the reply is keyed by the channel's own order number).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Connection

from hub.model.codes import EventAction
from hub.model.work_order import NewEvent, WorkOrder
from hub.services import workflow
from hub.services.pool import ConnectorPool
from hub.workflow.actions import Change

Sent = Literal["sent", "not_needed"]


def send_reply(pool: ConnectorPool, wo_no: str) -> Sent:
    """Write the order's reply to its source system; raises on failure so the bus retries."""
    with pool.engine.connect() as conn:
        order = workflow.load(conn, wo_no)
    system = order.origin.source_system
    if order.reply is None or system is None or system not in pool.names():
        return "not_needed"
    op = pool.operation(system, "reply")
    if op is None:
        return "not_needed"
    pool.call(system, op, order)

    def decide(_conn: Connection, current: WorkOrder) -> Change:
        change = Change(current.status, current.status)
        change.events.append(
            NewEvent(
                EventAction.NOTE,
                f"system:{system}",
                current.status,
                current.status,
                note=f"答复已回写 {system} (reply written back to the channel)",
                data={"reply_sent": system},
            )
        )
        return change

    workflow.apply(pool.engine, wo_no, decide)
    return "sent"
