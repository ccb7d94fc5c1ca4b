"""Write a WSDL 1.1 document/literal (wrapped) service from a types schema and operations.

Both SOAP sandboxes describe themselves this way, so their WSDLs have the same, zeep-
friendly shape: one request element per operation holding its parameters, and one
response element holding a single optional ``out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr


@dataclass(frozen=True)
class Operation:
    """An operation: parameters as (name, xsd type, optional?) and the type of ``out``."""

    name: str
    params: tuple[tuple[str, str, bool], ...]
    out_type: str
    doc: str = ""


def _param(name: str, xsd_type: str, optional: bool) -> str:
    occurs = ' minOccurs="0"' if optional else ""
    return f'<xsd:element name="{name}" type="{xsd_type}"{occurs} nillable="true"/>'


def _elements(op: Operation) -> str:
    params = "".join(_param(*p) for p in op.params)
    return (
        f'<xsd:element name="{op.name}"><xsd:complexType><xsd:sequence>{params}'
        f"</xsd:sequence></xsd:complexType></xsd:element>"
        f'<xsd:element name="{op.name}Response"><xsd:complexType><xsd:sequence>'
        f'<xsd:element name="out" type="{op.out_type}" minOccurs="0" nillable="true"/>'
        f"</xsd:sequence></xsd:complexType></xsd:element>"
    )


def _messages(op: Operation) -> str:
    return "".join(
        f'<wsdl:message name="{op.name}{suffix}Message">'
        f'<wsdl:part name="parameters" element="tns:{op.name}{suffix}"/></wsdl:message>'
        for suffix in ("", "Response")
    )


def _port_operation(op: Operation) -> str:
    doc = f"<wsdl:documentation>{op.doc}</wsdl:documentation>" if op.doc else ""
    return (
        f'<wsdl:operation name="{op.name}">{doc}'
        f'<wsdl:input message="tns:{op.name}Message"/>'
        f'<wsdl:output message="tns:{op.name}ResponseMessage"/></wsdl:operation>'
    )


def _binding_operation(op: Operation) -> str:
    return (
        f'<wsdl:operation name="{op.name}"><soap:operation soapAction=""/>'
        '<wsdl:input><soap:body use="literal"/></wsdl:input>'
        '<wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>'
    )


def build_wsdl(
    service: str, namespace: str, types_xsd: str, operations: tuple[Operation, ...], location: str
) -> str:
    """The whole WSDL document; ``location`` is the service's address as the client sees it."""
    ops = operations
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="{service}" targetNamespace="{namespace}"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="{namespace}">
<wsdl:types>
<xsd:schema targetNamespace="{namespace}" elementFormDefault="qualified"
    attributeFormDefault="unqualified">
{types_xsd}
{"".join(_elements(op) for op in ops)}
</xsd:schema>
</wsdl:types>
{"".join(_messages(op) for op in ops)}
<wsdl:portType name="{service}PortType">{"".join(_port_operation(op) for op in ops)}</wsdl:portType>
<wsdl:binding name="{service}HttpBinding" type="tns:{service}PortType">
<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{"".join(_binding_operation(op) for op in ops)}
</wsdl:binding>
<wsdl:service name="{service}">
<wsdl:port name="{service}HttpPort" binding="tns:{service}HttpBinding">
<soap:address location={quoteattr(location)}/>
</wsdl:port>
</wsdl:service>
</wsdl:definitions>
"""
