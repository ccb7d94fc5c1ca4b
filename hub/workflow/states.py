"""The guarded state machine: which action may run in which work-order state.

Every action names the states it may start from; anything else is an `InvalidTransition`
(a 409 at the API) whose reason says what the order is doing now, in Chinese and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from hub.model.codes import WorkOrderState as S

Scope = Literal["staff", "unit", "system"]


class Action(StrEnum):
    """Actions on a work order; the value is the API path segment."""

    label: str
    scope: Scope

    def __new__(cls, value: str, label: str, scope: Scope) -> Action:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.scope = scope
        return member

    TRIAGE = "triage", "分单", "staff"
    ANSWER = "answer", "直接答复", "staff"
    TRANSFER = "transfer", "转紧急热线", "staff"
    REJECT = "reject", "不予受理", "staff"
    DELIVER = "deliver", "送达部门", "system"
    SIGN = "sign", "签收", "unit"
    PROGRESS = "progress", "办理进展", "unit"
    FEEDBACK = "feedback", "部门反馈", "unit"
    RETURN = "return", "退单", "unit"
    EXTEND = "extend", "延期", "unit"
    REASSIGN = "reassign", "改派", "staff"
    REPLY = "reply", "答复诉求人", "staff"
    REVISIT = "revisit", "回访", "staff"
    URGE = "urge", "催办", "staff"
    MERGE = "merge", "并单", "staff"
    CLOSE = "close", "归档", "staff"
    CANCEL = "cancel", "撤销", "staff"


#: The states in which a unit is working on the order.
HANDLING = frozenset({S.DISPATCHED, S.SIGNED, S.IN_PROGRESS, S.EXTENDED, S.REOPENED})
#: Open states before anything reached a unit.
BEFORE_DISPATCH = frozenset({S.RECEIVED, S.TRIAGED})
#: States an order can be archived from.
FINISHED = frozenset(
    {
        S.ANSWERED_DIRECTLY,
        S.REPLIED,
        S.REVISITED,
        S.OUT_OF_SCOPE,
        S.TRANSFERRED_EMERGENCY,
        S.DUPLICATE,
        S.CANCELLED,
    }
)

ALLOWED: dict[Action, frozenset[S]] = {
    Action.TRIAGE: frozenset({S.RECEIVED}),
    Action.ANSWER: BEFORE_DISPATCH,
    Action.TRANSFER: BEFORE_DISPATCH,
    Action.REJECT: BEFORE_DISPATCH,
    Action.DELIVER: frozenset({S.TRIAGED}) | HANDLING | {S.RETURNED},
    Action.SIGN: HANDLING,
    Action.PROGRESS: HANDLING,
    Action.FEEDBACK: HANDLING,
    Action.RETURN: frozenset({S.DISPATCHED, S.SIGNED, S.IN_PROGRESS, S.REOPENED}),
    Action.EXTEND: frozenset({S.DISPATCHED, S.SIGNED, S.IN_PROGRESS, S.REOPENED}),
    Action.REASSIGN: frozenset({S.RETURNED, S.TRIAGED}) | HANDLING,
    Action.REPLY: frozenset({S.RESOLVED}),
    Action.REVISIT: frozenset({S.REPLIED}),
    Action.URGE: HANDLING | {S.RETURNED, S.TRIAGED},
    Action.MERGE: BEFORE_DISPATCH | HANDLING | {S.RETURNED},
    Action.CLOSE: FINISHED,
    Action.CANCEL: BEFORE_DISPATCH | HANDLING | {S.RETURNED},
}


@dataclass
class InvalidTransition(Exception):
    """An action that does not fit the order now; `reason` is for the caller to read."""

    reason: str
    code: str = "invalid_transition"

    def __str__(self) -> str:
        return self.reason


def check(action: Action, status: S) -> None:
    """Raise InvalidTransition unless `action` may start from `status`."""
    if status not in ALLOWED[action]:
        allowed = "、".join(sorted(s.label for s in ALLOWED[action]))
        raise InvalidTransition(
            f"工单当前为“{status.label}”，不能{action.label}；可{action.label}的状态：{allowed} "
            f"(action {action.value} is not allowed when the order is {status.value})"
        )
