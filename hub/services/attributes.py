"""Check a request's category attributes against the category's definition (pure)."""

from __future__ import annotations

from datetime import datetime

from hub.model.org_unit import Category, ServiceAttribute
from hub.model.work_order import AttributeValue


def _check_value(attr: ServiceAttribute, value: AttributeValue) -> str | None:
    keys = {v.key for v in attr.values}
    if attr.datatype == "number":
        if isinstance(value, bool):
            return "须为数字 (must be a number)"
        try:
            float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "须为数字 (must be a number)"
    elif attr.datatype == "datetime":
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return "须为 ISO 8601 日期时间 (must be an ISO 8601 datetime)"
    elif attr.datatype == "singlevaluelist":
        if not isinstance(value, str) or value not in keys:
            return f"须为以下之一 (must be one of): {', '.join(sorted(keys))}"
    elif attr.datatype == "multivaluelist":
        items = value if isinstance(value, list) else [str(value)]
        unknown = [v for v in items if v not in keys]
        if unknown:
            return f"未知选项 (unknown values): {', '.join(unknown)}"
    elif not isinstance(value, str | int | float) or len(str(value)) > 4000:
        return "须为不超过 4000 字的文本 (must be text up to 4000 characters)"
    return None


def attribute_errors(
    category: Category | None, attributes: dict[str, AttributeValue], *, require: bool = True
) -> list[tuple[str, str]]:
    """(field, reason) for every unknown, missing-required or ill-typed attribute.

    `require=False` when the category was derived (e.g. from the hotline dialled) rather than
    chosen by the submitter, who could not have been asked its questions.
    """
    defined = {a.code: a for a in category.attributes} if category else {}
    errors: list[tuple[str, str]] = []
    for code, value in attributes.items():
        attr = defined.get(code)
        if attr is None:
            errors.append((f"attributes.{code}", "该类别没有此属性 (unknown attribute)"))
            continue
        reason = _check_value(attr, value)
        if reason:
            errors.append((f"attributes.{code}", reason))
    for code, attr in defined.items():
        if require and attr.required and attr.variable and code not in attributes:
            errors.append((f"attributes.{code}", "必填属性缺失 (required attribute missing)"))
    return errors
