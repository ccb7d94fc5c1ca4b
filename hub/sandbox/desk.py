"""Acting like the department (部门办理): sign, progress, return, finish a dispatched task.

The three OA systems store tasks differently (Weaver nodes, Seeyon flow states, Tongda's
status column) but share one life cycle, so the control endpoints and the transition
rules live here once; each system only says how to read and write its own rows.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from hub.sandbox.base import SandboxSystem


class Stage(StrEnum):
    """The department-side life cycle common to every OA system."""

    PENDING = "pending"  # 待签收
    WORKING = "working"  # 办理中
    RETURNED = "returned"  # 已退回
    FINISHED = "finished"  # 已办结


class DeskAction(StrEnum):
    SIGN = "sign"  # 签收
    PROGRESS = "progress"  # 办理进展
    RETURN = "return"  # 退回
    FINISH = "finish"  # 办结


#: action → (stages it may start from, stage it leads to)
TRANSITIONS: dict[DeskAction, tuple[frozenset[Stage], Stage]] = {
    DeskAction.SIGN: (frozenset({Stage.PENDING}), Stage.WORKING),
    DeskAction.PROGRESS: (frozenset({Stage.PENDING, Stage.WORKING}), Stage.WORKING),
    DeskAction.RETURN: (frozenset({Stage.PENDING, Stage.WORKING}), Stage.RETURNED),
    DeskAction.FINISH: (frozenset({Stage.PENDING, Stage.WORKING}), Stage.FINISHED),
}


class DeskInput(BaseModel):
    """Who acts and what they write (opinion, or the reason for a return)."""

    operator: str = "部门经办人"
    opinion: str = ""


class OASystem(SandboxSystem):
    """A department OA system whose tasks the control API can move along."""

    def find_task(self, key: str, by_wo_no: bool) -> Any:
        """The system's own task id for a task id or a hub work-order number, or None."""
        raise NotImplementedError

    def stage_of(self, task_id: Any) -> Stage:
        raise NotImplementedError

    def apply(self, task_id: Any, action: DeskAction, to: Stage, data: DeskInput) -> None:
        """Write the transition in the system's own terms (node, state, status column)."""
        raise NotImplementedError

    def describe(self, task_id: Any) -> dict[str, Any]:
        """The task as the department sees it, including everything the hub sent."""
        raise NotImplementedError

    def list_tasks(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def add_control_routes(self, router: APIRouter) -> None:
        router.add_api_route("/tasks", self.list_tasks, methods=["GET"])
        router.add_api_route("/tasks/{key}", self.task_endpoint, methods=["GET"])
        router.add_api_route("/tasks/{key}/{action}", self.act_endpoint, methods=["POST"])
        router.add_api_route("/by-wo-no/{key}", self.task_by_wo_no, methods=["GET"])
        router.add_api_route("/by-wo-no/{key}/{action}", self.act_by_wo_no, methods=["POST"])

    def _resolve(self, key: str, by_wo_no: bool) -> Any:
        task_id = self.find_task(key, by_wo_no)
        if task_id is None:
            raise HTTPException(404, "任务不存在 (no such task)")
        return task_id

    def act(self, key: str, action: DeskAction, data: DeskInput, by_wo_no: bool) -> dict[str, Any]:
        """Check the transition against the common rules, then apply it."""
        task_id = self._resolve(key, by_wo_no)
        allowed_from, to = TRANSITIONS[action]
        current = self.stage_of(task_id)
        if current not in allowed_from:
            raise HTTPException(
                409, f"当前状态不允许此操作 (cannot {action.value} a task that is {current.value})"
            )
        self.apply(task_id, action, to, data)
        return self.describe(task_id)

    def task_endpoint(self, key: str) -> dict[str, Any]:
        return self.describe(self._resolve(key, by_wo_no=False))

    def task_by_wo_no(self, key: str) -> dict[str, Any]:
        return self.describe(self._resolve(key, by_wo_no=True))

    def act_endpoint(
        self, key: str, action: DeskAction, data: DeskInput | None = None
    ) -> dict[str, Any]:
        return self.act(key, action, data or DeskInput(), by_wo_no=False)

    def act_by_wo_no(
        self, key: str, action: DeskAction, data: DeskInput | None = None
    ) -> dict[str, Any]:
        return self.act(key, action, data or DeskInput(), by_wo_no=True)
