"""JSON and XML bodies for Open311: format by suffix, XML element names as in GeoReport v2.

JSON follows the spec's Spark convention: a list for collections, an object for the
service definition and discovery. XML is schemaless, UTF-8 with a declaration; lists become
a container element holding one singular child per item (``<services><service>``).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from fastapi import Request, Response
from lxml import etree

from hub.api.open311.errors import Open311Error


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


MEDIA_TYPES = {
    Format.JSON: "application/json; charset=utf-8",
    Format.XML: "text/xml; charset=utf-8",
}

# Container element → the element for each of its items.
_ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry (control characters a client may have typed).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parse_format(suffix: str) -> Format:
    try:
        return Format(suffix)
    except ValueError:
        raise Open311Error(
            404, f"不支持的格式 .{suffix}，请使用 .json 或 .xml (unknown format; use .json or .xml)"
        ) from None


def format_of(request: Request) -> Format:
    """The format errors are rendered in: XML only when the path asks for it."""
    return Format.XML if request.url.path.endswith(".xml") else Format.JSON


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: Any, value: Any) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            _fill(etree.SubElement(element, name), item)
    elif isinstance(value, list):
        item_name = _ITEM_NAMES[element.tag]
        for item in value:
            _fill(etree.SubElement(element, item_name), item)
    else:
        element.text = _text(value)


def to_xml(root: str, body: Any) -> bytes:
    element = etree.Element(root)
    _fill(element, body)
    return _XML_DECLARATION + etree.tostring(element, encoding="UTF-8", xml_declaration=False)


def render(fmt: Format, root: str, body: Any, status: int = 200) -> Response:
    """`root` names the XML root element; JSON ignores it."""
    if fmt is Format.XML:
        content = to_xml(root, body)
    else:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(content, status_code=status, media_type=MEDIA_TYPES[fmt])


def error_response(fmt: Format, error: Open311Error) -> Response:
    response = render(fmt, "errors", error.body(), error.status)
    response.headers.update(error.headers)
    return response
