"""The guarded state machine: every action outside its states is refused with a reason."""

from __future__ import annotations

import pytest

from hub.model.codes import WorkOrderState
from hub.workflow.states import ALLOWED, Action, InvalidTransition, check

PAIRS = [(action, state) for action in Action for state in WorkOrderState]


@pytest.mark.parametrize(("action", "state"), PAIRS, ids=[f"{a.value}-{s.value}" for a, s in PAIRS])
def test_every_action_in_every_state(action: Action, state: WorkOrderState) -> None:
    if state in ALLOWED[action]:
        check(action, state)
        return
    with pytest.raises(InvalidTransition) as refused:
        check(action, state)
    reason = refused.value.reason
    assert state.label in reason and action.label in reason  # says what the order is doing
    assert f"not allowed when the order is {state.value}" in reason
    assert refused.value.code == "invalid_transition"


def test_closed_orders_only_archive() -> None:
    """Closed states (resolved counts as closed in Open311) accept no handling action."""
    closed = [s for s in WorkOrderState if not s.is_open]
    for state in closed:
        allowed = {a for a in Action if state in ALLOWED[a]}
        assert allowed <= {Action.CLOSE, Action.REVISIT, Action.REPLY}, (state, allowed)
    assert not {a for a in Action if WorkOrderState.ARCHIVED in ALLOWED[a]}


def test_unit_actions_need_a_unit_at_work() -> None:
    for action in (Action.SIGN, Action.FEEDBACK, Action.RETURN, Action.EXTEND):
        assert action.scope == "unit"
        assert WorkOrderState.RECEIVED not in ALLOWED[action]
        assert WorkOrderState.RESOLVED not in ALLOWED[action]
