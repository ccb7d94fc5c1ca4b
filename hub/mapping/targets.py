"""Inbound targets: the canonical models a mapping file may name as ``target``."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, StringConstraints

from hub.model.base import Canonical
from hub.model.codes import WorkOrderState
from hub.model.service_matter import Case, ServiceMatter
from hub.model.work_order import WorkOrderSubmission

__all__ = ["TARGETS", "DispatchResult", "StatusUpdate", "check_target_field"]


class StatusUpdate(Canonical):
    """A department system's state of a task the hub dispatched to it."""

    external_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    status: WorkOrderState
    node: Annotated[str, StringConstraints(max_length=200)] | None = None
    operator: Annotated[str, StringConstraints(max_length=100)] | None = None
    updated_at: AwareDatetime | None = None
    note: Annotated[str, StringConstraints(max_length=4000)] | None = None


class DispatchResult(Canonical):
    """What a department system answered to a create: its own id, or why it refused."""

    external_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    error_code: Annotated[str, StringConstraints(max_length=32)] | None = None
    error_message: Annotated[str, StringConstraints(max_length=500)] | None = None

    @property
    def refusal(self) -> str | None:
        """Why the system refused, or None when it created the task (code 0 means success)."""
        if self.error_code not in (None, "", "0"):
            return f"{self.error_code}: {self.error_message or '未知错误 (unknown error)'}"
        if self.external_id is None:
            return self.error_message or "未返回任务编号 (no task id in the reply)"
        return None


TARGETS: dict[str, type[BaseModel]] = {
    "dispatch_result": DispatchResult,
    "work_order": WorkOrderSubmission,
    "service_matter": ServiceMatter,
    "case": Case,
    "status_update": StatusUpdate,
}


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X | None`` or ``Annotated[X, ...]``; None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def check_target_field(model: type[BaseModel], dotted: str) -> None:
    """Raise ValueError if ``dotted`` is not a field path of ``model``.

    The walk stops at a field that is not a model (a dict such as ``attributes``), whose
    keys are free.
    """
    current: type[BaseModel] | None = model
    for part in dotted.split("."):
        if current is None:
            return
        info = current.model_fields.get(part)
        if info is None:
            raise ValueError(
                f"目标 {model.__name__} 没有字段 {part} (target model has no such field)"
            )
        current = _nested_model(info.annotation)
