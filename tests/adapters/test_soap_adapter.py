"""SOAP adapter against a real loopback server: hardened XML, faults, WS-Security, paging."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from servers import (  # noqa: F401 - server_fixture provides `server`
    LOOPBACK,
    FixtureServer,
    connector,
    envelope,
    server_fixture,
    wsdl,
    xml,
)

from hub.adapters.errors import (
    BlockedHost,
    HostileXml,
    ResponseTooLarge,
    SoapFault,
    TransportFailed,
)
from hub.adapters.soap import SoapAdapter
from hub.connectors.secrets import Connection

SERVICE = "/services/Test"


def soap_config(server: FixtureServer, **fields: object):  # type: ignore[no-untyped-def]
    base = {
        "endpoint": {"wsdl": f"{server.url}{SERVICE}?wsdl"},
        "operations": [{"name": "custom_echo", "operation": "echo", "mapping": "m_echo"}],
        "streams": [
            {
                "name": "items",
                "operation": "listItems",
                "cursor": {"field": "cd_time", "type": "time", "lookback": "10m", "param": "since"},
                "paging": {
                    "kind": "page",
                    "size": 2,
                    "params": {"page": "pageNo", "size": "pageSize"},
                },
                "mapping": "m_items",
            }
        ],
    }
    return connector("soap", **{**base, **fields})


@pytest.fixture
def soap_server(server: FixtureServer) -> FixtureServer:
    server.route("GET", f"{SERVICE}?wsdl", xml(wsdl(server.url + SERVICE)))
    return server


def answer(server: FixtureServer, body: str | bytes, status: int = 200) -> None:
    server.route("POST", SERVICE, xml(body, status))


def test_call_returns_raw_and_parsed(soap_server: FixtureServer) -> None:
    answer(
        soap_server, envelope('<echoResponse xmlns="urn:test"><result>好</result></echoResponse>')
    )
    adapter = SoapAdapter(soap_config(soap_server), allow=LOOPBACK)
    assert adapter.operations() == ["echo", "listItems"]
    response = adapter.call("custom_echo", {"text": "hi"})
    assert response.data == "好"  # zeep unwraps a single-element reply
    assert "好".encode() in response.raw


def mapped_echo(server: FixtureServer):  # type: ignore[no-untyped-def]
    """An operation whose reply goes through a response mapping (as a task's create)."""
    echo = {"name": "custom_echo", "operation": "echo", "response_mapping": "m_echo_reply"}
    return soap_config(server, operations=[echo])


def test_a_reply_read_by_a_response_mapping_is_kept_raw_not_parsed(
    soap_server: FixtureServer,
) -> None:
    answer(
        soap_server, envelope('<echoResponse xmlns="urn:test"><result>好</result></echoResponse>')
    )
    response = SoapAdapter(mapped_echo(soap_server), allow=LOOPBACK).call(
        "custom_echo", {"text": "x"}
    )
    assert response.data is None  # zeep built no objects: the mapping engine parses `raw`
    assert "<result>好</result>".encode() in response.raw


def test_a_reply_left_raw_is_still_checked_for_faults_and_doctypes(
    soap_server: FixtureServer,
) -> None:
    adapter = SoapAdapter(mapped_echo(soap_server), allow=LOOPBACK)
    fault = (
        "<soap:Fault><faultcode>soap:Client</faultcode>"
        "<faultstring>无此流程</faultstring></soap:Fault>"
    )
    answer(soap_server, envelope(fault))  # a fault answered with HTTP 200
    with pytest.raises(SoapFault) as caught:
        adapter.call("custom_echo", {"text": "x"})
    assert caught.value.text == "无此流程"
    answer(soap_server, HOSTILE["xxe_local_file"])
    with pytest.raises(HostileXml) as refused:
        adapter.call("custom_echo", {"text": "x"})
    assert refused.value.payload == HOSTILE["xxe_local_file"].encode()


def test_ws_security_username_token_is_sent(soap_server: FixtureServer) -> None:
    answer(
        soap_server, envelope('<echoResponse xmlns="urn:test"><result>x</result></echoResponse>')
    )
    config = soap_config(soap_server, auth={"kind": "ws_security"}, connection="weaver_env")
    creds = Connection("weaver_env", login="oa_user", password="s3cret")
    SoapAdapter(config, allow=LOOPBACK, connection=creds).call("custom_echo", {"text": "x"})
    body = soap_server.seen[-1].body.decode()
    assert "UsernameToken" in body and "<wsse:Username>oa_user</wsse:Username>" in body


def test_soap_fault_becomes_adapter_error(soap_server: FixtureServer) -> None:
    fault = (
        "<soap:Fault><faultcode>soap:Server</faultcode>"
        "<faultstring>流程不存在</faultstring></soap:Fault>"
    )
    answer(soap_server, envelope(fault), status=500)
    adapter = SoapAdapter(soap_config(soap_server), allow=LOOPBACK)
    with pytest.raises(SoapFault) as caught:
        adapter.call("custom_echo", {"text": "x"})
    assert caught.value.text == "流程不存在"
    assert "Server" in (caught.value.code or "")
    assert not caught.value.retryable


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    + "]>"
).replace("&lol0;", "&lol;")
HOSTILE = {
    "billion_laughs": envelope(
        "<echoResponse xmlns='urn:test'><result>&lol9;</result></echoResponse>", BILLION_LAUGHS
    ),
    "xxe_local_file": envelope(
        "<echoResponse xmlns='urn:test'><result>&xxe;</result></echoResponse>",
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ),
    "external_dtd": envelope(
        "<echoResponse xmlns='urn:test'><result>x</result></echoResponse>",
        '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">',
    ),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_responses_refused_fast_with_bounded_memory(
    soap_server: FixtureServer, attack: str
) -> None:
    answer(soap_server, HOSTILE[attack])
    adapter = SoapAdapter(soap_config(soap_server), allow=LOOPBACK)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(HostileXml) as caught:
        adapter.call("custom_echo", {"text": "x"})
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.1
    assert peak < 5 * 1024 * 1024
    assert "root:" not in str(caught.value)  # /etc/passwd never read into the error
    assert caught.value.payload == HOSTILE[attack].encode()  # kept whole for the dead letter
    assert len(soap_server.seen) == 2  # the WSDL and the call: no DTD fetched


def test_wsdl_importing_remote_schema_is_refused(server: FixtureServer) -> None:
    remote = '<xsd:import namespace="urn:evil" schemaLocation="http://127.0.0.1:9/evil.xsd"/>'
    server.route("GET", f"{SERVICE}?wsdl", xml(wsdl(server.url + SERVICE, remote)))
    started = time.perf_counter()
    with pytest.raises(HostileXml, match=r"evil\.xsd"):
        SoapAdapter(soap_config(server), allow=LOOPBACK)
    assert time.perf_counter() - started < 0.1


def test_wsdl_with_dtd_refused(server: FixtureServer) -> None:
    body = wsdl(server.url + SERVICE).replace("?>", '?><!DOCTYPE d [<!ENTITY e "x">]>', 1)
    server.route("GET", f"{SERVICE}?wsdl", xml(body))
    with pytest.raises(HostileXml):
        SoapAdapter(soap_config(server), allow=LOOPBACK)


def test_wsdl_host_not_allowed(soap_server: FixtureServer) -> None:
    from hub.connectors.allowlist import AllowList

    with pytest.raises(BlockedHost):
        SoapAdapter(soap_config(soap_server), allow=AllowList(("*.gov.cn",)))
    assert soap_server.seen == []


def test_vendored_wsdl_file_and_local_escape(tmp_path: Path, soap_server: FixtureServer) -> None:
    answer(
        soap_server, envelope('<echoResponse xmlns="urn:test"><result>ok</result></echoResponse>')
    )
    (tmp_path / "wsdl").mkdir()
    (tmp_path / "wsdl" / "svc.wsdl").write_text(wsdl(soap_server.url + SERVICE))
    config = soap_config(soap_server, endpoint={"wsdl": "wsdl/svc.wsdl"})
    adapter = SoapAdapter(config, allow=LOOPBACK, base_dir=tmp_path)
    assert adapter.call("custom_echo", {"text": "x"}).data == "ok"

    (tmp_path / "outside.xsd").write_text(
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>'
    )
    escape = '<xsd:include schemaLocation="../outside.xsd"/>'
    (tmp_path / "wsdl" / "bad.wsdl").write_text(wsdl(soap_server.url + SERVICE, escape))
    with pytest.raises(BlockedHost):
        SoapAdapter(
            soap_config(soap_server, endpoint={"wsdl": "wsdl/bad.wsdl"}),
            allow=LOOPBACK,
            base_dir=tmp_path,
        )


def test_oversize_response_refused(soap_server: FixtureServer) -> None:
    big = "x" * 20000
    answer(
        soap_server,
        envelope(f'<echoResponse xmlns="urn:test"><result>{big}</result></echoResponse>'),
    )
    config = soap_config(soap_server, limits={"max_response_bytes": 8000})
    with pytest.raises(ResponseTooLarge):
        SoapAdapter(config, allow=LOOPBACK).call("custom_echo", {"text": "x"})


def test_fetch_page_sends_cursor_with_lookback_and_paging(soap_server: FixtureServer) -> None:
    items = "<item>a</item><item>b</item>"
    answer(
        soap_server, envelope(f'<listItemsResponse xmlns="urn:test">{items}</listItemsResponse>')
    )
    adapter = SoapAdapter(soap_config(soap_server), allow=LOOPBACK)
    page = adapter.fetch_page("items", "2026-01-01T08:10:00+08:00", None)
    sent = soap_server.seen[-1].body.decode()
    assert "2026-01-01T08:00:00+08:00" in sent
    assert "<ns0:pageNo>1</ns0:pageNo>" in sent and "<ns0:pageSize>2</ns0:pageSize>" in sent
    assert page.raw is not None and b"<item>b</item>" in page.raw
    assert page.next_token == "2"


def test_operation_timeout(soap_server: FixtureServer) -> None:
    def slow(_seen: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(0.5)
        return xml(envelope('<echoResponse xmlns="urn:test"><result>x</result></echoResponse>'))

    soap_server.route("POST", SERVICE, slow)
    adapter = SoapAdapter(soap_config(soap_server, timeouts={"read": 0.1}), allow=LOOPBACK)
    started = time.perf_counter()
    with pytest.raises(TransportFailed, match="timeout"):
        adapter.call("custom_echo", {"text": "x"})
    assert time.perf_counter() - started < 0.4


def test_wsdl_cache_is_per_adapter(soap_server: FixtureServer) -> None:
    SoapAdapter(soap_config(soap_server), allow=LOOPBACK)
    remote = '<xsd:import namespace="urn:evil" schemaLocation="http://127.0.0.1:9/evil.xsd"/>'
    soap_server.route("GET", f"{SERVICE}?wsdl", xml(wsdl(soap_server.url + SERVICE, remote)))
    with pytest.raises(HostileXml):
        SoapAdapter(soap_config(soap_server), allow=LOOPBACK)
