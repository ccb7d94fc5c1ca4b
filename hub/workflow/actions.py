"""What each action does to a work order, as a `Change` the store then writes.

The functions are pure: they read the order as it is, check the state machine and the
business rules (a unit returns an order at most once, the reply waits for every
assignment's feedback, …) and describe the new state, the assignment updates, the events
for the timeline and the messages for the bus. Time rules come in through `SlaClock`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hub.model.codes import (
    AssignmentRole,
    AssignmentState,
    DeliveryState,
    EventAction,
    Satisfaction,
)
from hub.model.codes import WorkOrderState as S
from hub.model.work_order import Assignment, NewEvent, Reply, Revisit, SlaDeadlines, WorkOrder
from hub.workflow.states import Action, InvalidTransition, check

#: Assignments that still count: not handed back and not taken away.
ACTIVE = frozenset(
    {
        AssignmentState.PENDING,
        AssignmentState.DISPATCHED,
        AssignmentState.SIGNED,
        AssignmentState.IN_PROGRESS,
        AssignmentState.FED_BACK,
    }
)
WORKING = ACTIVE - {AssignmentState.FED_BACK}
DISSATISFIED = frozenset({Satisfaction.DISSATISFIED, Satisfaction.VERY_DISSATISFIED})


class SlaClock(Protocol):
    """The time rules (policies/sla.yaml and the working-day calendar)."""

    def deadlines(self, order: WorkOrder, now: datetime) -> SlaDeadlines:
        """Deadlines for an order being dispatched now (kept response clock included)."""

    def extend(self, order: WorkOrder, days: int, now: datetime) -> SlaDeadlines:
        """New deadlines, or ValueError with the reason (once only, capped)."""

    def return_allowed(self, order: WorkOrder, assignment: Assignment, now: datetime) -> bool:
        """Whether the return window since dispatch is still open."""

    def reassigned(self, order: WorkOrder, now: datetime) -> SlaDeadlines:
        """Deadlines after a return is reassigned (restart or continue, per policy)."""

    def reopened(self, order: WorkOrder, now: datetime) -> SlaDeadlines:
        """A new resolve deadline for the same lead after a dissatisfied revisit."""


@dataclass(frozen=True)
class NewAssignment:
    """An assignment to create: which unit, in what role, delivered through what."""

    unit_code: str
    role: AssignmentRole
    connector: str | None
    due_at: datetime | None = None
    dispatch_key: str | None = None


@dataclass(frozen=True)
class Message:
    """A bus message to publish through the outbox after the change commits."""

    topic: str
    key: str
    payload: dict[str, Any]


@dataclass
class Change:
    """Everything one action does to one order (and notes on related orders)."""

    before: S
    status: S
    fields: dict[str, Any] = field(default_factory=dict)
    assignment_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_assignments: list[NewAssignment] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    related_events: list[tuple[str, NewEvent]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    #: Extra writes the store runs in the same transaction, before the events (e.g. the
    #: child orders of a split, whose numbers the split event then names).
    on_write: list[Callable[[Any], None]] = field(default_factory=list)

    def event(self, action: EventAction, actor: str, **kwargs: Any) -> None:
        self.events.append(NewEvent(action, actor, self.before, self.status, **kwargs))


def dispatch_topic(connector: str | None) -> str:
    return f"dispatch.{connector or 'inbox'}"


def dispatch_message(wo_no: str, plan: NewAssignment) -> Message:
    return Message(
        dispatch_topic(plan.connector), wo_no, {"wo_no": wo_no, "unit_code": plan.unit_code}
    )


def notice_message(wo_no: str, unit_code: str, connector: str | None, kind: str) -> Message:
    return Message(
        f"notice.{connector or 'inbox'}",
        wo_no,
        {"wo_no": wo_no, "unit_code": unit_code, "kind": kind},
    )


def _fail(reason: str, code: str = "invalid_transition") -> InvalidTransition:
    return InvalidTransition(reason, code)


def _responded(order: WorkOrder, now: datetime) -> dict[str, Any]:
    """The first handling by the response centre stops the 30-minute response clock."""
    if order.sla.responded_at is not None:
        return {}
    return {"sla": order.sla.model_copy(update={"responded_at": now})}


def _assignment_view(plan: NewAssignment) -> dict[str, Any]:
    return {"unit_code": plan.unit_code, "role": plan.role.value}


def _unit_assignment(order: WorkOrder, unit_code: str, states: frozenset[Any]) -> Assignment:
    for assignment in order.assignments:
        if assignment.unit_code == unit_code and assignment.state in states:
            return assignment
    raise _fail(
        f"单位 {unit_code} 没有可办理此操作的分派 (unit {unit_code} has no assignment "
        "in a state that allows this)",
        "no_assignment",
    )


def _id(assignment: Assignment) -> int:
    if assignment.id is None:  # pragma: no cover - orders read from the store have ids
        raise ValueError("assignment without id")
    return assignment.id


# --- triage and the response centre's own answers ---------------------------------------


def triage(
    order: WorkOrder,
    plans: Sequence[NewAssignment],
    sla: SlaDeadlines,
    actor: str,
    now: datetime,
    *,
    category_code: str | None = None,
    note: str | None = None,
) -> Change:
    """Assign the order to its lead and co-handlers and send each dispatch."""
    check(Action.TRIAGE, order.status)
    leads = [p for p in plans if p.role is AssignmentRole.LEAD]
    if len(leads) != 1:
        raise _fail("分单须有且只有一个主办单位 (exactly one lead unit is needed)", "bad_plan")
    change = Change(order.status, S.TRIAGED)
    responded = sla if sla.responded_at else sla.model_copy(update={"responded_at": now})
    change.fields["sla"] = responded
    if category_code:
        change.fields["category_code"] = category_code
    change.new_assignments.extend(plans)
    change.event(
        EventAction.TRIAGED,
        actor,
        note=note,
        data={"assignments": [_assignment_view(p) for p in plans]},
    )
    change.messages.extend(dispatch_message(order.wo_no, p) for p in plans)
    return change


def split(
    order: WorkOrder, children: Sequence[str], actor: str, now: datetime, note: str | None
) -> Change:
    """The parent waits for its children; each child is triaged on its own."""
    check(Action.TRIAGE, order.status)
    change = Change(order.status, S.TRIAGED, fields={**_responded(order, now)})
    change.event(EventAction.SPLIT, actor, note=note, data={"children": list(children)})
    return change


def answer(order: WorkOrder, content: str, actor: str, now: datetime) -> Change:
    """Answered directly by the response centre (直接答复), e.g. from the matter catalogue."""
    check(Action.ANSWER, order.status)
    change = Change(order.status, S.ANSWERED_DIRECTLY)
    sla = order.sla.model_copy(update={"responded_at": order.sla.responded_at or now})
    change.fields.update(
        sla=sla,
        reply=Reply(content=content, replied_at=now, replied_by=actor, channel=None),
        closed_at=now,
    )
    within = sla.response_due is None or (sla.responded_at or now) <= sla.response_due
    minutes = (now - order.created_at).total_seconds() / 60
    change.event(
        EventAction.ANSWERED,
        actor,
        note=content,
        data={"within_response_target": within, "response_minutes": round(minutes, 1)},
    )
    change.messages.append(reply_message(order))
    return change


def transfer(order: WorkOrder, hotline: str, reason: str, actor: str, now: datetime) -> Change:
    """An emergency goes to 110/119/120/122 at once and leaves the hub's flow."""
    check(Action.TRANSFER, order.status)
    change = Change(order.status, S.TRANSFERRED_EMERGENCY, fields={"closed_at": now})
    change.fields.update(_responded(order, now))
    change.event(EventAction.TRANSFERRED, actor, note=reason, data={"hotline": hotline})
    return change


def reject(order: WorkOrder, route: str, actor: str, now: datetime) -> Change:
    """Not accepted (不予受理), with the right route told to the requester."""
    check(Action.REJECT, order.status)
    change = Change(order.status, S.OUT_OF_SCOPE, fields={"closed_at": now})
    change.fields.update(_responded(order, now))
    change.fields["reply"] = Reply(content=route, replied_at=now, replied_by=actor)
    change.event(EventAction.REJECTED, actor, note=route)
    change.messages.append(reply_message(order))
    return change


# --- delivery --------------------------------------------------------------------------


def delivered(
    order: WorkOrder,
    assignment: Assignment,
    external_id: str | None,
    state: DeliveryState,
    actor: str,
    now: datetime,
) -> Change:
    """The department system (or the hub inbox) has the task, under its own id."""
    check(Action.DELIVER, order.status)
    status = S.DISPATCHED if order.status is S.TRIAGED else order.status
    change = Change(order.status, status)
    update: dict[str, Any] = {
        "delivery_state": state.value,
        "external_id": external_id,
        "dispatched_at": now,
    }
    if assignment.state is AssignmentState.PENDING:
        update["state"] = AssignmentState.DISPATCHED.value
    change.assignment_updates[_id(assignment)] = update
    via = "枢纽收件箱 (hub inbox)" if state is DeliveryState.INBOX else (assignment.connector or "")
    change.event(
        EventAction.DISPATCHED if status is not order.status else EventAction.DELIVERED,
        actor,
        unit_code=assignment.unit_code,
        note=f"已送达 {assignment.unit_code}（{via}）",
        data={"external_id": external_id, "connector": assignment.connector},
    )
    return change


def delivery_failed(
    order: WorkOrder, assignment: Assignment, reason: str, actor: str, *, alert: bool
) -> Change:
    """A failed delivery is marked; after the last attempt an alert shows on the timeline."""
    change = Change(order.status, order.status)
    change.assignment_updates[_id(assignment)] = {"delivery_state": DeliveryState.FAILED.value}
    if alert:
        change.event(
            EventAction.NOTE,
            actor,
            public=False,
            unit_code=assignment.unit_code,
            note=f"派单失败，转入收件箱并告警 (delivery failed, inbox fallback): {reason}",
            data={"alert": "delivery_failed", "connector": assignment.connector},
        )
    return change


# --- the unit's steps -----------------------------------------------------------------


def sign(order: WorkOrder, unit_code: str, actor: str, now: datetime) -> Change:
    check(Action.SIGN, order.status)
    assignment = _unit_assignment(order, unit_code, frozenset({AssignmentState.DISPATCHED}))
    lead = assignment.role is AssignmentRole.LEAD
    status = S.SIGNED if lead and order.status in {S.DISPATCHED, S.REOPENED} else order.status
    change = Change(order.status, status)
    change.assignment_updates[_id(assignment)] = {
        "state": AssignmentState.SIGNED.value,
        "signed_at": now,
    }
    change.event(EventAction.SIGNED, actor, unit_code=unit_code)
    return change


def progress(
    order: WorkOrder, unit_code: str, note: str | None, actor: str, now: datetime
) -> Change:
    check(Action.PROGRESS, order.status)
    states = frozenset({AssignmentState.DISPATCHED, AssignmentState.SIGNED})
    assignment = _unit_assignment(order, unit_code, states | {AssignmentState.IN_PROGRESS})
    lead = assignment.role is AssignmentRole.LEAD
    moving = {S.DISPATCHED, S.SIGNED, S.REOPENED}
    status = S.IN_PROGRESS if lead and order.status in moving else order.status
    change = Change(order.status, status)
    update: dict[str, Any] = {"state": AssignmentState.IN_PROGRESS.value}
    if assignment.signed_at is None:
        update["signed_at"] = now
    change.assignment_updates[_id(assignment)] = update
    change.event(EventAction.PROGRESS, actor, unit_code=unit_code, note=note)
    return change


def feedback(order: WorkOrder, unit_code: str, content: str, actor: str, now: datetime) -> Change:
    """The unit's result; the order is resolved once every active assignment fed back."""
    check(Action.FEEDBACK, order.status)
    assignment = _unit_assignment(order, unit_code, WORKING)
    others_done = all(
        a.state is AssignmentState.FED_BACK
        for a in order.assignments
        if a.id != assignment.id and a.state in ACTIVE
    )
    if others_done:
        status = S.RESOLVED
    elif order.status in {S.DISPATCHED, S.SIGNED}:
        status = S.IN_PROGRESS  # one unit done, the others still working
    else:
        status = order.status
    change = Change(order.status, status)
    update: dict[str, Any] = {
        "state": AssignmentState.FED_BACK.value,
        "fed_back_at": now,
        "feedback": content,
    }
    if assignment.signed_at is None:
        update["signed_at"] = now
    change.assignment_updates[_id(assignment)] = update
    waiting = [
        a.unit_code for a in order.assignments if a.id != assignment.id and a.state in WORKING
    ]
    change.event(
        EventAction.FEEDBACK,
        actor,
        unit_code=unit_code,
        note=content,
        data={"role": assignment.role.value, "waiting_for": waiting},
    )
    return change


def return_order(
    order: WorkOrder, unit_code: str, reason: str, clock: SlaClock, actor: str, now: datetime
) -> Change:
    """A wrong dispatch handed back with a reason (退单); once per unit and order."""
    check(Action.RETURN, order.status)
    if any(a.unit_code == unit_code and a.return_count > 0 for a in order.assignments):
        raise _fail(
            "同一单位对同一工单只能退单一次 (a unit may return an order only once)",
            "returned_before",
        )
    states = frozenset({AssignmentState.DISPATCHED, AssignmentState.SIGNED})
    assignment = _unit_assignment(order, unit_code, states | {AssignmentState.IN_PROGRESS})
    if not clock.return_allowed(order, assignment, now):
        raise _fail("已超过退单时限 (the return window has passed)", "return_window_passed")
    lead = assignment.role is AssignmentRole.LEAD
    change = Change(order.status, S.RETURNED if lead else order.status)
    change.assignment_updates[_id(assignment)] = {
        "state": AssignmentState.RETURNED.value,
        "return_count": assignment.return_count + 1,
    }
    change.event(
        EventAction.RETURNED,
        actor,
        unit_code=unit_code,
        note=reason,
        data={"role": assignment.role.value, "reason": reason},
    )
    return change


def extend(
    order: WorkOrder,
    unit_code: str,
    days: int,
    reason: str,
    clock: SlaClock,
    actor: str,
    now: datetime,
) -> Change:
    check(Action.EXTEND, order.status)
    assignment = _unit_assignment(order, unit_code, WORKING)
    if assignment.role is not AssignmentRole.LEAD:
        raise _fail("只有主办单位可以申请延期 (only the lead unit may extend)", "not_lead")
    try:
        sla = clock.extend(order, days, now)
    except ValueError as exc:
        raise _fail(str(exc), "extension_refused") from None
    until = sla.extended_until or sla.resolve_due
    change = Change(order.status, S.EXTENDED, fields={"sla": sla})
    change.assignment_updates[_id(assignment)] = {"due_at": until}
    change.event(
        EventAction.EXTENDED,
        actor,
        unit_code=unit_code,
        note=reason,
        data={"days": days, "until": until.isoformat() if until else None},
    )
    return change


# --- the response centre's supervision of the flow ----------------------------------------


def reassign(
    order: WorkOrder,
    plan: NewAssignment,
    *,
    uphold_return: bool,
    clock: SlaClock,
    actor: str,
    now: datetime,
    from_unit: str | None = None,
    note: str | None = None,
) -> Change:
    """Objection review (派单异议审核) and reassignment (改派).

    A returned order: when the return is upheld, `plan.unit_code` takes over; when the
    objection is overruled, the same unit must handle it (and cannot return it again).
    An order being handled: `from_unit`'s assignment is withdrawn and the new unit added.
    """
    check(Action.REASSIGN, order.status)
    change = Change(order.status, S.TRIAGED)
    if order.status is S.RETURNED:
        returned = [a for a in order.assignments if a.state is AssignmentState.RETURNED]
        if not returned:  # pragma: no cover - a returned order has a returned lead
            raise _fail("没有待审核的退单 (no return to review)", "no_return")
        last = returned[-1]
        if not uphold_return and plan.unit_code != last.unit_code:
            raise _fail(
                "驳回退单时须由原单位继续办理 (an overruled return goes back to the same unit)",
                "bad_plan",
            )
        review = "upheld" if uphold_return else "overruled"
    else:
        if from_unit is None:
            raise _fail("改派须指明原单位 from_unit (name the unit to take it from)", "bad_plan")
        old = _unit_assignment(order, from_unit, WORKING)
        change.assignment_updates[_id(old)] = {"state": AssignmentState.WITHDRAWN.value}
        review = "reassigned"
        if order.status not in {S.TRIAGED, S.RETURNED} and old.role is not AssignmentRole.LEAD:
            change.status = order.status  # a co-handler swap leaves the lead's progress alone
    if any(a.unit_code == plan.unit_code and a.state in WORKING for a in order.assignments):
        raise _fail("该单位已在办理此工单 (this unit already has the order)", "bad_plan")
    sla = clock.reassigned(order, now)
    plan = NewAssignment(
        plan.unit_code, plan.role, plan.connector, sla.resolve_due, plan.dispatch_key
    )
    change.fields["sla"] = sla
    change.new_assignments.append(plan)
    change.messages.append(dispatch_message(order.wo_no, plan))
    change.event(
        EventAction.REASSIGNED,
        actor,
        unit_code=plan.unit_code,
        note=note,
        data={"review": review, "to": plan.unit_code, "from": from_unit},
    )
    return change


def reply_message(order: WorkOrder) -> Message:
    """The answer goes back to the channel the request came from."""
    channel = order.origin.source_system or order.origin.channel.value
    return Message(f"reply.{channel}", order.wo_no, {"wo_no": order.wo_no})


def reply(order: WorkOrder, content: str, actor: str, now: datetime) -> Change:
    """Answer the requester (回复); only once every assignment has fed back."""
    check(Action.REPLY, order.status)
    change = Change(order.status, S.REPLIED)
    change.fields["reply"] = Reply(
        content=content, replied_at=now, replied_by=actor, channel=order.origin.channel
    )
    change.fields["closed_at"] = now
    change.event(EventAction.REPLIED, actor, note=content)
    change.messages.append(reply_message(order))
    return change


def revisit(
    order: WorkOrder,
    satisfaction: Satisfaction,
    comment: str | None,
    method: str | None,
    clock: SlaClock,
    actor: str,
    now: datetime,
) -> Change:
    """Revisit (回访); dissatisfied reopens the order to the same lead with a new deadline."""
    check(Action.REVISIT, order.status)
    record = Revisit(
        visited_at=now, visited_by=actor, satisfaction=satisfaction, comment=comment, method=method
    )
    if satisfaction not in DISSATISFIED:
        change = Change(order.status, S.REVISITED, fields={"revisit": record})
        change.event(
            EventAction.REVISITED, actor, note=comment, data={"satisfaction": satisfaction.value}
        )
        return change
    leads = [a for a in order.assignments if a.role is AssignmentRole.LEAD and a.state in ACTIVE]
    if not leads:
        raise _fail("没有可重办的主办单位 (no lead unit to reopen to)", "no_assignment")
    lead = leads[-1]
    sla = clock.reopened(order, now)
    change = Change(order.status, S.REOPENED, fields={"revisit": record, "sla": sla})
    change.fields["closed_at"] = None
    change.event(
        EventAction.REVISITED, actor, note=comment, data={"satisfaction": satisfaction.value}
    )
    change.assignment_updates[_id(lead)] = {"state": AssignmentState.WITHDRAWN.value}
    plan = NewAssignment(lead.unit_code, AssignmentRole.LEAD, lead.connector, sla.resolve_due)
    change.new_assignments.append(plan)
    change.messages.append(dispatch_message(order.wo_no, plan))
    change.event(
        EventAction.REOPENED,
        actor,
        unit_code=lead.unit_code,
        note="诉求人不满意，重办 (dissatisfied: reopened to the same lead)",
        data={"resolve_due": sla.resolve_due.isoformat() if sla.resolve_due else None},
    )
    return change


def urge(order: WorkOrder, unit_code: str | None, note: str | None, actor: str) -> Change:
    """A staff urging notice (催办) to one unit or every unit still working."""
    check(Action.URGE, order.status)
    targets = [
        a
        for a in order.assignments
        if a.state in WORKING and (unit_code is None or a.unit_code == unit_code)
    ]
    if not targets:
        raise _fail("没有需要催办的单位 (no unit to urge)", "no_assignment")
    change = Change(order.status, order.status)
    for assignment in targets:
        change.event(EventAction.URGED, actor, unit_code=assignment.unit_code, note=note)
        change.messages.append(
            notice_message(order.wo_no, assignment.unit_code, assignment.connector, "urge")
        )
    return change


def _withdraw_all(change: Change, order: WorkOrder, kind: str) -> None:
    for assignment in order.assignments:
        if assignment.state in WORKING:
            change.assignment_updates[_id(assignment)] = {"state": AssignmentState.WITHDRAWN.value}
            if assignment.delivery_state is not DeliveryState.PENDING:
                change.messages.append(
                    notice_message(order.wo_no, assignment.unit_code, assignment.connector, kind)
                )


def merge(order: WorkOrder, target: WorkOrder, actor: str, now: datetime) -> Change:
    """This order repeats `target` (并单): it closes as a duplicate and points there."""
    check(Action.MERGE, order.status)
    if target.wo_no == order.wo_no or target.duplicate_of is not None or not target.status.is_open:
        raise _fail("只能并入另一张未办结的工单 (merge into another open order)", "bad_target")
    change = Change(order.status, S.DUPLICATE, fields={"duplicate_of": target.wo_no})
    change.fields["closed_at"] = now
    change.fields.update(_responded(order, now))
    _withdraw_all(change, order, "withdrawn")
    change.event(EventAction.MERGED, actor, data={"into": target.wo_no})
    change.related_events.append(
        (
            target.wo_no,
            NewEvent(
                EventAction.MERGED,
                actor,
                target.status,
                target.status,
                data={"merged": order.wo_no},
            ),
        )
    )
    return change


def close(order: WorkOrder, note: str | None, actor: str, now: datetime) -> Change:
    check(Action.CLOSE, order.status)
    change = Change(order.status, S.ARCHIVED, fields={"closed_at": order.closed_at or now})
    change.event(EventAction.ARCHIVED, actor, note=note)
    return change


def cancel(order: WorkOrder, reason: str, actor: str, now: datetime) -> Change:
    check(Action.CANCEL, order.status)
    change = Change(order.status, S.CANCELLED, fields={"closed_at": now})
    _withdraw_all(change, order, "cancelled")
    change.event(EventAction.CANCELLED, actor, note=reason)
    return change
