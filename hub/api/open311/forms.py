"""POST requests: read the form-encoded arguments and build a canonical WorkOrderSubmission.

Everything here is checked before a transaction opens, so a refused request writes nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from hub.api.open311.errors import Open311Error, field_error, from_validation
from hub.model.codes import AppealType, Channel
from hub.model.org_unit import Category
from hub.model.work_order import MAX_TITLE, AttributeValue, WorkOrderSubmission
from hub.services.catalogue import Catalogue

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SINGLE_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)
TITLE_SNIPPET = 30
# attribute[code]=v, repeated for a multivaluelist; the spec's attribute[code][]=v also works.
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]*)\](?:\[\])?$")
REQUIRED = "缺少必填参数 (required)"


@dataclass(frozen=True)
class RequestForm:
    """Non-blank arguments only: the spec treats an empty argument as an absent one."""

    fields: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in FORM_TYPES:
        raise Open311Error(
            400,
            "请求体须为表单编码 (the body must be application/x-www-form-urlencoded "
            "or multipart/form-data)",
        )


def undo_latin1(value: str) -> str:
    """Repair raw UTF-8 sent without percent-encoding (e.g. `curl -d '描述=…'`).

    The form parser reads such bytes as Latin-1; re-reading them as UTF-8 gives back the
    Chinese text. Values that were not such bytes are returned unchanged.
    """
    if not any("\x80" <= ch <= "\xff" for ch in value):
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def read_form(items: Iterable[tuple[str, Any]]) -> RequestForm:
    """Unknown arguments are ignored (clients add their own); files and repeats are not."""
    form = RequestForm()
    for name, raw in items:
        if not isinstance(raw, str):
            raise field_error(
                name, "不接受文件上传，请使用 media_url (no file uploads; send media_url)"
            )
        value = undo_latin1(raw).strip()
        attribute = _ATTRIBUTE.match(name)
        if attribute:
            if not attribute.group(1):
                raise field_error(name, "属性代码为空 (empty attribute code)")
            if value:
                form.attributes.setdefault(attribute.group(1), []).append(value)
        elif name in SINGLE_FIELDS:
            if name in form.fields:
                raise field_error(name, "只能提供一次 (given more than once)")
            if value:
                form.fields[name] = value
    return form


def service_of(form: RequestForm, catalogue: Catalogue) -> Category:
    code = form.get("service_code")
    if code is None:
        raise field_error("service_code", REQUIRED)
    category = catalogue.categories.get(code)
    if category is None:
        # GeoReport v2, POST Service Request: "404 - service_code ... was not found".
        raise field_error("service_code", f"未知的服务 {code!r} (service_code not found)", 404)
    return category


def appeal_type_for(category: Category) -> AppealType:
    """Open311 has no appeal type: derive it from the service (response centre may correct)."""
    if category.code == "PRAISE":
        return AppealType.PRAISE
    if category.section in ("complaint", "urban"):
        return AppealType.COMPLAINT
    if category.section == "suggestion":
        return AppealType.SUGGESTION
    return AppealType.HELP


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise field_error(name, "须为数字 (must be a number)")
    return value


def _location(form: RequestForm) -> dict[str, Any]:
    lat, long = form.get("lat"), form.get("long")
    address, address_id = form.get("address_string"), form.get("address_id")
    if (lat is None) != (long is None):
        raise field_error("lat/long", "经纬度须同时提供 (lat and long go together)")
    if lat is None or long is None:
        if address is None and address_id is None:
            raise field_error(
                "lat/long, address_string, address_id",
                "须提供经纬度、地址或地址编号之一 "
                "(one of lat+long, address_string or address_id is required)",
            )
        return {"address": address, "address_id": address_id}
    return {
        "address": address,
        "address_id": address_id,
        "latitude": _number("lat", lat),
        "longitude": _number("long", long),
    }


def _requester(form: RequestForm) -> dict[str, Any]:
    phone, email = form.get("phone"), form.get("email")
    name = (form.get("last_name") or "") + (form.get("first_name") or "")  # 姓在前 family first
    return {
        "name": name or None,
        "phone": phone,
        "email": email,
        "anonymous": not (phone or email),
    }


def _typed(category: Category, code: str, values: list[str]) -> AttributeValue:
    datatype = next((a.datatype for a in category.attributes if a.code == code), None)
    if datatype == "multivaluelist":
        return values
    if len(values) > 1:
        raise field_error(f"attribute[{code}]", "只能提供一个值 (only one value allowed)")
    if datatype == "number":
        try:
            number = float(values[0])
        except ValueError:
            return values[0]  # intake names the attribute and the reason
        return int(number) if number.is_integer() else number
    return values[0]


def _attachments(form: RequestForm) -> list[dict[str, str]]:
    url = form.get("media_url")
    if url is None:
        return []
    name = urlsplit(url).path.rsplit("/", 1)[-1] or "media"
    return [{"name": name[:200], "url": url}]


def _title(category: Category, description: str | None) -> str:
    if not description:
        return category.name[:MAX_TITLE]
    return f"{category.name}：{description[:TITLE_SNIPPET]}"[:MAX_TITLE]


def to_submission(form: RequestForm, category: Category) -> WorkOrderSubmission:
    """400 naming the Open311 argument for anything the canonical model refuses."""
    description = form.get("description")
    try:
        return WorkOrderSubmission.model_validate(
            {
                "channel": Channel.OPEN311,
                "appeal_type": appeal_type_for(category),
                "category_code": category.code,
                "title": _title(category, description),
                "content": description or category.name,
                "location": _location(form),
                "requester": _requester(form),
                "attachments": _attachments(form),
                "attributes": {
                    code: _typed(category, code, values) for code, values in form.attributes.items()
                },
            }
        )
    except ValidationError as exc:
        raise from_validation(exc.errors()) from None
