"""Actions on a work order by people (API) with their scope rules, run through the workflow.

Staff of the response centre may do everything; a unit's key may only sign, report
progress, feed back, return or ask for an extension on its own assignments — a town's
key also for the villages and communities it delivers to. System actors (connectors, the
dispatcher) go through the same pure rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationError
from sqlalchemy import Connection, Engine

from hub.model.base import Inbound, utcnow
from hub.model.codes import AssignmentRole, Satisfaction
from hub.model.work_order import WorkOrder
from hub.services import workflow
from hub.services.catalogue import Catalogue
from hub.services.dispatch import delivery_unit
from hub.workflow import actions
from hub.workflow.actions import NewAssignment, SlaClock
from hub.workflow.states import Action, InvalidTransition

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9-]{1,31}$")]
WoNo = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}\d{8,16}$")]


class UnitBody(Inbound):
    unit_code: UnitCode | None = None
    note: Note | None = None


class FeedbackBody(UnitBody):
    content: Text


class ReturnBody(UnitBody):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class ExtendBody(UnitBody):
    days: int = Field(ge=1, le=60)
    reason: Text


class ContentBody(Inbound):
    content: Text


class RevisitBody(Inbound):
    satisfaction: Satisfaction
    comment: Note | None = None
    method: Literal["phone", "sms", "app", "portal", "visit"] | None = None


class ReassignBody(Inbound):
    unit_code: UnitCode
    role: AssignmentRole = AssignmentRole.LEAD
    uphold_return: bool = True
    from_unit: UnitCode | None = None
    note: Note | None = None


class MergeBody(Inbound):
    into: WoNo


class NoteBody(Inbound):
    note: Note | None = None


class ReasonBody(Inbound):
    reason: Text


class TriageBody(Inbound):
    lead: UnitCode
    co: list[UnitCode] = Field(default_factory=list, max_length=10)
    category_code: UnitCode | None = None
    note: Note | None = None


class TransferBody(Inbound):
    hotline: Literal["110", "119", "120", "122"]
    reason: Text


class RejectBody(Inbound):
    route: Text


BODIES: dict[Action, type[BaseModel]] = {
    Action.SIGN: UnitBody,
    Action.PROGRESS: UnitBody,
    Action.FEEDBACK: FeedbackBody,
    Action.RETURN: ReturnBody,
    Action.EXTEND: ExtendBody,
    Action.REPLY: ContentBody,
    Action.ANSWER: ContentBody,
    Action.REVISIT: RevisitBody,
    Action.URGE: UnitBody,
    Action.REASSIGN: ReassignBody,
    Action.MERGE: MergeBody,
    Action.CLOSE: NoteBody,
    Action.CANCEL: ReasonBody,
    Action.TRIAGE: TriageBody,
    Action.TRANSFER: TransferBody,
    Action.REJECT: RejectBody,
}


@dataclass(frozen=True)
class Actor:
    """Who acts: `staff`/`admin` keys, a unit's key (`unit_code`), or a system."""

    name: str
    scope: str
    unit_code: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.scope in {"staff", "admin"}


class ActionRefused(Exception):
    """The caller may not do this (403) or the body is wrong (422)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


@dataclass(frozen=True)
class WorkflowContext:
    engine: Engine
    catalogue: Catalogue
    clock: SlaClock

    def plan(self, unit_code: str, role: AssignmentRole, due_at: datetime | None) -> NewAssignment:
        unit = self.catalogue.units.get(unit_code)
        if unit is None:
            raise ActionRefused(
                422,
                "unknown_unit",
                f"未知单位 {unit_code} (unknown unit)",
                {"unit_code": unit_code},
            )
        return NewAssignment(unit_code, role, unit.connector, due_at)


def parse_body(action: Action, body: Any) -> BaseModel:
    try:
        return BODIES[action].model_validate(body or {})
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise ActionRefused(
            422, "invalid_body", "操作参数无效 (invalid action body)", details
        ) from None


def _acting_unit(ctx: WorkflowContext, order: WorkOrder, actor: Actor, given: str | None) -> str:
    """The unit whose assignment is acted on, checked against the key's scope."""
    if actor.is_staff:
        if given is None:
            raise ActionRefused(
                422, "unit_required", "请指明单位 unit_code (name the unit to act for)"
            )
        return given
    mine = actor.unit_code
    candidates = [
        a.unit_code
        for a in order.assignments
        if a.unit_code == mine or delivery_unit(ctx.catalogue, a.unit_code) == mine
    ]
    unit = given or (candidates[-1] if candidates else mine)
    if unit is None or unit not in candidates:
        raise ActionRefused(
            403, "forbidden_unit", "只能办理分派给本单位的工单 (only your own unit's assignments)"
        )
    return unit


def decide(
    ctx: WorkflowContext, action: Action, body: BaseModel, actor: Actor, now: datetime
) -> Callable[[Connection, WorkOrder], actions.Change]:
    """The decision function for workflow.run: everything read from the order as it is."""
    who = actor.name

    def run(conn: Connection, order: WorkOrder) -> actions.Change:
        if action.scope == "staff" and not actor.is_staff:
            raise ActionRefused(
                403, "forbidden_scope", f"只有响应中心可以{action.label} (response centre only)"
            )
        if isinstance(body, UnitBody) and action.scope == "unit":
            unit = _acting_unit(ctx, order, actor, body.unit_code)
            if action is Action.SIGN:
                return actions.sign(order, unit, who, now)
            if action is Action.PROGRESS:
                return actions.progress(order, unit, body.note, who, now)
            if isinstance(body, FeedbackBody):
                return actions.feedback(order, unit, body.content, who, now)
            if isinstance(body, ReturnBody):
                return actions.return_order(order, unit, body.reason, ctx.clock, who, now)
            if isinstance(body, ExtendBody):
                return actions.extend(order, unit, body.days, body.reason, ctx.clock, who, now)
        if action is Action.URGE and isinstance(body, UnitBody):
            return actions.urge(order, body.unit_code, body.note, who)
        if isinstance(body, ContentBody):
            if action is Action.REPLY:
                return actions.reply(order, body.content, who, now)
            return actions.answer(order, body.content, who, now)
        if isinstance(body, RevisitBody):
            return actions.revisit(
                order, body.satisfaction, body.comment, body.method, ctx.clock, who, now
            )
        if isinstance(body, ReassignBody):
            plan = ctx.plan(body.unit_code, body.role, None)
            return actions.reassign(
                order,
                plan,
                uphold_return=body.uphold_return,
                clock=ctx.clock,
                actor=who,
                now=now,
                from_unit=body.from_unit,
                note=body.note,
            )
        if isinstance(body, MergeBody):
            target = workflow.load(conn, body.into)
            return actions.merge(order, target, who, now)
        if isinstance(body, NoteBody):
            return actions.close(order, body.note, who, now)
        if isinstance(body, ReasonBody):
            return actions.cancel(order, body.reason, who, now)
        if isinstance(body, TriageBody):
            due = order.sla.resolve_due
            plans = [ctx.plan(body.lead, AssignmentRole.LEAD, due)]
            plans += [ctx.plan(u, AssignmentRole.CO, due) for u in body.co if u != body.lead]
            change = actions.triage(
                order,
                plans,
                order.sla,
                who,
                now,
                category_code=body.category_code,
                note=body.note,
            )
            change.fields["triage_queue"] = None
            return change
        if isinstance(body, TransferBody):
            return actions.transfer(order, body.hotline, body.reason, who, now)
        if isinstance(body, RejectBody):
            return actions.reject(order, body.route, who, now)
        raise AssertionError(f"unhandled action {action}")  # pragma: no cover

    return run


def perform(
    ctx: WorkflowContext, wo_no: str, action: Action, raw_body: Any, actor: Actor
) -> tuple[WorkOrder, actions.Change]:
    """Validate, decide and write; NotFound, ActionRefused or InvalidTransition on refusal."""
    body = parse_body(action, raw_body)
    now = utcnow()
    return workflow.run(ctx.engine, wo_no, decide(ctx, action, body, actor, now), now=now)


__all__ = [
    "ActionRefused",
    "Actor",
    "InvalidTransition",
    "WorkflowContext",
    "parse_body",
    "perform",
]
