"""Tiny real HTTP servers on loopback for adapter tests (the sandbox is built elsewhere).

A route answers with canned (status, headers, body) or a function of the request; every
request is recorded so tests can assert on headers and bodies.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hub.connectors.allowlist import AllowList
from hub.connectors.models import ConnectorConfig


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]
Route = Reply | Callable[[Seen], Reply]


@dataclass
class FixtureServer:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def route(self, method: str, path: str, reply: Route) -> None:
        self.routes[(method, path)] = reply

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def _handler(state: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            state.seen.append(seen)
            route = state.routes.get((self.command, self.path)) or state.routes.get(
                (self.command, self.path.split("?")[0])
            )
            if route is None:
                status, headers, body = 404, {}, b"not found"
            else:
                status, headers, body = route(seen) if callable(route) else route
            self.send_response(status)
            for name, value in headers.items():
                if value:  # an empty value means "leave this header out"
                    self.send_header(name, value)
            if "Content-Length" not in headers:  # "" = stream until close, no length
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = _serve

    return Handler


@pytest.fixture(name="server")
def server_fixture() -> Iterator[FixtureServer]:
    """Import this into a test module to get the `server` fixture (no conftest here: the
    root tests/conftest.py is imported by name and must not be shadowed)."""
    state = FixtureServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def xml(body: str | bytes, status: int = 200) -> Reply:
    data = body.encode() if isinstance(body, str) else body
    return status, {"Content-Type": "text/xml; charset=utf-8"}, data


def json_reply(body: str, status: int = 200, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", **headers}, body.encode()


WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="urn:test" targetNamespace="urn:test">
  <types>
    <xsd:schema targetNamespace="urn:test" elementFormDefault="qualified">
      {imports}
      <xsd:element name="echo">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="text" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="echoResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="result" type="xsd:string"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="listItems">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="since" type="xsd:string" minOccurs="0"/>
          <xsd:element name="pageNo" type="xsd:int" minOccurs="0"/>
          <xsd:element name="pageSize" type="xsd:int" minOccurs="0"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="listItemsResponse">
        <xsd:complexType><xsd:sequence>
          <xsd:element name="item" type="xsd:string" minOccurs="0" maxOccurs="unbounded"/>
          <xsd:element name="next" type="xsd:string" minOccurs="0"/>
        </xsd:sequence></xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </types>
  <message name="echoIn"><part name="parameters" element="tns:echo"/></message>
  <message name="echoOut"><part name="parameters" element="tns:echoResponse"/></message>
  <message name="listIn"><part name="parameters" element="tns:listItems"/></message>
  <message name="listOut"><part name="parameters" element="tns:listItemsResponse"/></message>
  <portType name="TestPort">
    <operation name="echo"><input message="tns:echoIn"/><output message="tns:echoOut"/></operation>
    <operation name="listItems">
      <input message="tns:listIn"/><output message="tns:listOut"/>
    </operation>
  </portType>
  <binding name="TestBinding" type="tns:TestPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="echo"><soap:operation soapAction="echo"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
    <operation name="listItems"><soap:operation soapAction="listItems"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="TestService">
    <port name="TestPort" binding="tns:TestBinding">
      <soap:address location="{address}"/>
    </port>
  </service>
</definitions>
"""


def wsdl(address: str, imports: str = "") -> str:
    return WSDL.replace("{address}", address).replace("{imports}", imports)


def envelope(inner: str, prolog: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soap:Body>{inner}</soap:Body></soap:Envelope>"
    )


def connector(kind: str, **fields: object) -> ConnectorConfig:
    """A validated config for tests; retries fast and deterministic unless overridden."""
    data: dict[str, object] = {
        "name": "test_conn",
        "kind": kind,
        "unit": "JKQ-HBJ",
        "retry": {"attempts": 1},
        **fields,
    }
    return ConnectorConfig.model_validate(data)


LOOPBACK = AllowList(("127.0.0.1",))
