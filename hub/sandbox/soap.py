"""SOAP 1.1 document/literal serving shared by the Weaver and Hebei sandboxes.

Incoming envelopes go through a hardened lxml parser (no DTD, no entities, no network) and
any document that carries a DOCTYPE is refused outright, so the sandbox itself never falls
for the hostile XML it can be told to send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request, Response
from lxml import etree

from hub.sandbox.base import SandboxSystem
from hub.sandbox.wsdl import Operation, build_wsdl
from hub.xmlsafe import hardened_parser

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_REQUEST_BYTES = 2 * 1024 * 1024
XML_TYPE = "text/xml; charset=utf-8"

PARSER = hardened_parser(remove_comments=True)


class SoapFault(Exception):
    """A fault to return as a SOAP 1.1 ``<soap:Fault>`` (HTTP 500, as the spec says)."""

    def __init__(self, message: str, code: str = "Client") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def parse_operation(body: bytes) -> etree._Element:
    """The first element inside ``soap:Body``, after the safety checks."""
    if len(body) > MAX_REQUEST_BYTES:
        raise SoapFault("请求报文过大 (request too large)")
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"报文格式错误 (malformed XML): {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("不接受 DTD 或实体声明 (DTD and entities are not allowed)")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("不是 SOAP 1.1 信封 (not a SOAP 1.1 envelope)")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    operation = None if body_el is None else next(iter(body_el.iterchildren("{*}*")), None)
    if operation is None:
        raise SoapFault("SOAP Body 为空 (empty SOAP body)")
    return operation


def envelope(payload: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def fault_envelope(fault: SoapFault) -> bytes:
    element = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.message
    return envelope(element)


def append_value(parent: etree._Element, ns: str, name: str, value: Any) -> None:
    """Serialise dicts as child elements in order, lists as repeated elements, None as absent."""
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            append_value(parent, ns, name, item)
        return
    child = etree.SubElement(parent, f"{{{ns}}}{name}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            append_value(child, ns, key, item)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    else:
        child.text = str(value)


class Reader:
    """Read a request element whose children are in one target namespace."""

    def __init__(self, element: etree._Element, ns: str) -> None:
        self.element = element
        self.ns = ns

    def text(self, path: str, default: str = "") -> str:
        found = self.element.find(self._qualify(path))
        return default if found is None or found.text is None else found.text.strip()

    def integer(self, path: str, default: int = 0) -> int:
        raw = self.text(path)
        try:
            return int(raw) if raw else default
        except ValueError:
            raise SoapFault(f"参数 {path} 应为整数 (must be an integer)") from None

    def child(self, path: str) -> Reader | None:
        found = self.element.find(self._qualify(path))
        return None if found is None else Reader(found, self.ns)

    def children(self, path: str) -> list[Reader]:
        return [Reader(e, self.ns) for e in self.element.findall(self._qualify(path))]

    def _qualify(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))


Handler = Callable[[Reader], Any]


class SoapSystem(SandboxSystem):
    """A system whose real API is one SOAP service with its own WSDL."""

    body_format = "xml"
    namespace: ClassVar[str]
    service_name: ClassVar[str]
    service_path: ClassVar[str]
    types_xsd: ClassVar[str]
    operations: ClassVar[tuple[Operation, ...]]

    def handlers(self) -> dict[str, Handler]:
        """Operation name → handler returning the ``out`` value of the response."""
        raise NotImplementedError

    def add_routes(self, app: FastAPI) -> None:
        app.add_api_route(self.service_path, self.wsdl_endpoint, methods=["GET"])
        app.add_api_route(self.service_path, self.soap_endpoint, methods=["POST"])

    def wsdl(self, location: str) -> str:
        return build_wsdl(
            self.service_name, self.namespace, self.types_xsd, self.operations, location
        )

    def wsdl_endpoint(self, request: Request) -> Response:
        location = str(request.base_url).rstrip("/") + self.service_path
        return Response(self.wsdl(location), media_type=XML_TYPE)

    async def soap_endpoint(self, request: Request) -> Response:
        body = await request.body()
        return self.dispatch(body)

    def dispatch(self, body: bytes) -> Response:
        """Parse, route to the operation's handler, and wrap its result or fault."""
        try:
            operation = parse_operation(body)
            name = etree.QName(operation).localname
            handler = self.handlers().get(name)
            if handler is None or etree.QName(operation).namespace != self.namespace:
                raise SoapFault(f"未知操作 (unknown operation): {name}")
            out = handler(Reader(operation, self.namespace))
        except SoapFault as fault:
            return Response(fault_envelope(fault), 500, media_type=XML_TYPE)
        wrapper = etree.Element(
            f"{{{self.namespace}}}{name}Response", nsmap={"ns1": self.namespace}
        )
        append_value(wrapper, self.namespace, "out", out)
        return Response(envelope(wrapper), media_type=XML_TYPE)

    def error_response(self, status: int, message: str) -> Response:
        return Response(fault_envelope(SoapFault(message, "Server")), status, media_type=XML_TYPE)
