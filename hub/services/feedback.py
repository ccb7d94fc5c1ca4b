"""Feedback (反馈) from the departments' systems: status polls, pushed callbacks, streams.

Whatever the route, a `StatusUpdate` (mapped by the connector's mapping file) becomes the
same workflow actions a unit would take through the API — sign, progress, return,
feedback — so the timeline reads the same. Applying an update twice changes nothing: an
assignment already at or past the reported state is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, select

from hub.mapping import StatusUpdate
from hub.model.base import utcnow
from hub.model.codes import AssignmentState, DeliveryState, EventAction
from hub.model.codes import WorkOrderState as S
from hub.model.work_order import Assignment, NewEvent, WorkOrder
from hub.services import workflow
from hub.services.pool import ConnectorPool
from hub.store.db import transaction
from hub.store.schema import assignments
from hub.workflow import actions
from hub.workflow.actions import SlaClock
from hub.workflow.states import InvalidTransition

log = logging.getLogger(__name__)

FINISHED_STATES = frozenset({S.RESOLVED, S.REPLIED, S.REVISITED, S.ARCHIVED})
Step = Callable[[WorkOrder, Assignment], actions.Change]


@dataclass
class FeedbackResult:
    applied: int = 0
    unchanged: int = 0
    #: External ids the hub did not dispatch (other senders use the same system).
    unknown: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def count(self, outcome: str, external_id: str) -> None:
        """Tally one apply_update outcome."""
        if outcome == "applied":
            self.applied += 1
        elif outcome == "unchanged":
            self.unchanged += 1
        else:
            self.unknown.append(external_id)


#: How far along an assignment is; fed back, returned and withdrawn are final (absent).
_RANK = {
    AssignmentState.PENDING: 0,
    AssignmentState.DISPATCHED: 1,
    AssignmentState.SIGNED: 2,
    AssignmentState.IN_PROGRESS: 3,
}
_FINAL = 4  # feedback and return end the assignment's work


def _steps(
    update: StatusUpdate, actor: str, clock: SlaClock, now: datetime
) -> list[tuple[int, Step]]:
    """The unit actions that bring an assignment up to the reported state, in order, each
    with the rank it reaches (a step the assignment has reached already is skipped)."""
    note = update.note or update.node

    def sign(order: WorkOrder, a: Assignment) -> actions.Change:
        return actions.sign(order, a.unit_code, actor, now)

    def progress(order: WorkOrder, a: Assignment) -> actions.Change:
        return actions.progress(order, a.unit_code, update.node, actor, now)

    def finish(order: WorkOrder, a: Assignment) -> actions.Change:
        return actions.feedback(order, a.unit_code, note or "部门已办结 (resolved)", actor, now)

    def hand_back(order: WorkOrder, a: Assignment) -> actions.Change:
        reason = note or "部门退回 (returned by the unit)"
        return actions.return_order(order, a.unit_code, reason, clock, actor, now)

    status = update.status
    if status in FINISHED_STATES:
        return [(_FINAL, finish)]
    if status is S.RETURNED:
        return [(_FINAL, hand_back)]
    if status in {S.IN_PROGRESS, S.EXTENDED}:
        return [(2, sign), (3, progress)]
    if status is S.SIGNED:
        return [(2, sign)]
    return []


def apply_update(
    conn: Connection,
    connector: str,
    update: StatusUpdate,
    clock: SlaClock,
    now: datetime | None = None,
) -> str:
    """Apply one update in the caller's transaction: applied, unchanged or unknown."""
    now = now or utcnow()
    found = conn.execute(
        select(assignments.c.id, assignments.c.wo_no)
        .where(
            and_(
                assignments.c.connector == connector,
                assignments.c.external_id == update.external_id,
            )
        )
        .order_by(assignments.c.id.desc())
    ).first()
    if found is None:
        return "unknown"
    actor = f"system:{connector}" + (f"/{update.operator}" if update.operator else "")
    applied = False
    for reaches, step in _steps(update, actor, clock, now):
        order = workflow.load(conn, found.wo_no)
        assignment = next(a for a in order.assignments if a.id == found.id)
        rank = _RANK.get(assignment.state)
        if rank is None or rank >= reaches:
            continue
        try:
            change = step(order, assignment)
        except InvalidTransition as exc:
            change = _noted(order, assignment, actor, update, exc)
        workflow.write_change(conn, order, change, now)
        applied = True
    return "applied" if applied else "unchanged"


def _noted(
    order: WorkOrder,
    assignment: Assignment,
    actor: str,
    update: StatusUpdate,
    exc: InvalidTransition,
) -> actions.Change:
    """A report the rules refuse (e.g. a second return) is kept for staff, not lost."""
    change = actions.Change(order.status, order.status)
    change.events.append(
        NewEvent(
            EventAction.NOTE,
            actor,
            order.status,
            order.status,
            public=False,
            unit_code=assignment.unit_code,
            note=f"部门系统报告 {update.status.value}，未执行：{exc.reason}",
            data={"attention": "feedback_refused", "reported": update.status.value},
        )
    )
    return change


def apply_updates(
    engine: Engine, connector: str, updates: list[StatusUpdate], clock: SlaClock
) -> FeedbackResult:
    result = FeedbackResult()
    for update in updates:
        try:
            with transaction(engine) as conn:
                outcome = apply_update(conn, connector, update, clock)
        except workflow.Conflict:
            result.failed.append(update.external_id)
            continue
        result.count(outcome, update.external_id)
    return result


def open_deliveries(engine: Engine, connector: str) -> list[tuple[str, str, str]]:
    """(wo_no, external_id, dispatch_key) of the connector's tasks still being handled."""
    query = (
        select(assignments.c.wo_no, assignments.c.external_id, assignments.c.dispatch_key)
        .where(
            and_(
                assignments.c.connector == connector,
                assignments.c.delivery_state == DeliveryState.DELIVERED.value,
                assignments.c.state.in_([s.value for s in actions.WORKING]),
                assignments.c.external_id.is_not(None),
            )
        )
        .order_by(assignments.c.id)
    )
    with engine.connect() as conn:
        return [(r.wo_no, r.external_id, r.dispatch_key or r.wo_no) for r in conn.execute(query)]


def poll(pool: ConnectorPool, connector: str, clock: SlaClock) -> FeedbackResult:
    """Ask the system for the state of each task it still has open (its `status` operation)."""
    op = pool.operation(connector, "status")
    result = FeedbackResult()
    if op is None:
        return result
    updates: list[StatusUpdate] = []
    for wo_no, external_id, key in open_deliveries(pool.engine, connector):
        try:
            answers = pool.answer(
                op, pool.call(connector, op, {"external_id": external_id, "wo_no": key})
            )
        except Exception as exc:  # one task's failure must not stop the others
            log.warning("status poll %s %s failed: %s", connector, wo_no, exc)
            result.failed.append(wo_no)
            continue
        updates.extend(a for a in answers if isinstance(a, StatusUpdate))
    found = apply_updates(pool.engine, connector, updates, clock)
    found.failed.extend(result.failed)
    return found
