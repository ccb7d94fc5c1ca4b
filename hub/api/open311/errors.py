"""Open311 errors: a list of {code, description}; 404 unknown resource, 403 api_key, 400 else.

GeoReport v2 (section "Errors"): "404 for resources that don't exist, 403 for errors because
of wrong or missing api_key and basically 400 for any other error". The canonical envelope
of /api/v1 is not used under /open311.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.api.errors import validation_details
from hub.services.intake import IntakeError

# Canonical field paths (WorkOrderSubmission) → the Open311 argument the client sent.
_FIELD_NAMES = {
    "content": "description",
    "title": "description",
    "category_code": "service_code",
    "requester.phone": "phone",
    "requester.email": "email",
    "requester.name": "last_name/first_name",
    "requester": "phone/email",
    "location": "lat/long",
    "location.latitude": "lat",
    "location.longitude": "long",
    "location.address": "address_string",
    "location.address_id": "address_id",
}
_TRANSPORT_LOCS = ("body", "query", "path", "header", "form")

# Chinese (English) reasons for pydantic's built-in checks; our own validators already
# speak Chinese and come through unchanged.
_REASONS = {
    "string_too_long": "长度不能超过 {max_length} 个字符 (at most {max_length} characters)",
    "string_too_short": "不能为空 (must not be empty)",
    "too_long": "不能超过 {max_length} 项 (at most {max_length} items)",
    "greater_than_equal": "不能小于 {ge} (must be at least {ge})",
    "less_than_equal": "不能大于 {le} (must be at most {le})",
    "url_parsing": "须为有效的网址 (must be a valid URL)",
    "url_scheme": "须为 http 或 https 网址 (must be an http or https URL)",
    "url_too_long": "网址过长 (URL too long)",
    "missing": "缺少必填参数 (required)",
}


class Open311Error(Exception):
    """Raised anywhere under /open311; rendered as an error list in the requested format."""

    def __init__(
        self, status: int, *descriptions: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions) or ["请求无法处理 (the request cannot be served)"]
        self.headers = dict(headers or {})

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": d} for d in self.descriptions]


def field_error(field: str, reason: str, status: int = 400) -> Open311Error:
    return Open311Error(status, f"{field}: {reason}")


def open311_field(loc: Sequence[Any]) -> str:
    """The Open311 argument behind a validation location, e.g. requester.phone → phone."""
    parts = [str(p) for p in loc if p not in _TRANSPORT_LOCS]
    if parts[:1] == ["attributes"] and len(parts) > 1:
        return f"attribute[{parts[1]}]"
    if parts[:1] == ["attachments"]:
        return "media_url"
    dotted = ".".join(parts)
    return _FIELD_NAMES.get(dotted, dotted or "request")


def _reason(error: Mapping[str, Any]) -> str:
    template = _REASONS.get(str(error.get("type")))
    if template is not None:
        return template.format(**(error.get("ctx") or {}))
    reason: str = validation_details([error])[0]["reason"]
    return reason if error.get("type") == "value_error" else f"取值无效 (invalid value): {reason}"


def from_validation(errors: Sequence[Mapping[str, Any]]) -> Open311Error:
    """A pydantic or FastAPI validation failure as one 400 entry per field."""
    return Open311Error(400, *(f"{open311_field(e.get('loc', ()))}: {_reason(e)}" for e in errors))


def from_intake(exc: IntakeError) -> Open311Error:
    """Intake refusals (bad attributes, duplicates) are 400s naming the Open311 argument."""
    details = exc.details if isinstance(exc.details, list) else []
    entries = [
        f"{open311_field(str(d.get('field', '')).split('.', 1))}: {d.get('reason', '')}"
        for d in details
    ]
    return Open311Error(400, exc.message, *entries)
