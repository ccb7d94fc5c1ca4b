"""Misbehaviour modes: every system can be slow, fail, time out after committing, or lie."""

from __future__ import annotations

import time

import pytest
import requests
import zeep
from lxml import etree
from sandbox_helpers import control, request_info, soap_client

from hub.sandbox import Sandbox
from hub.sandbox.hotline import API_KEY

#: The sandbox fixtures: running, sb (reset before each test), weaver, hebei.
pytest_plugins = ["sandbox_fixtures"]

HOTLINE_KEY = {"X-API-Key": API_KEY}
HARDENED = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def faults(sb: Sandbox, system: str, **plan: object) -> dict:
    return control(sb, system, "POST", "/faults", json=plan)


def hotline_get(sb: Sandbox, timeout: float = 5) -> requests.Response:
    return requests.get(f"{sb.urls['hotline']}/api/orders", headers=HOTLINE_KEY, timeout=timeout)


def test_latency(sb: Sandbox) -> None:
    faults(sb, "hotline", latency_ms=300)
    started = time.perf_counter()
    assert hotline_get(sb).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_next_calls_fail_then_recover(sb: Sandbox) -> None:
    faults(sb, "hotline", fail_next=2, fail_status=503)
    assert [hotline_get(sb).status_code for _ in range(3)] == [503, 503, 200]
    assert control(sb, "hotline", "GET", "/faults")["calls"] == 3


def test_error_rate_is_seeded_and_partial(sb: Sandbox) -> None:
    faults(sb, "hotline", error_rate=0.5, seed=7)
    codes = [hotline_get(sb).status_code for _ in range(20)]
    assert 0 < codes.count(500) < 20
    faults(sb, "hotline", error_rate=0.5, seed=7)
    assert [hotline_get(sb).status_code for _ in range(20)] == codes


def test_soap_failure_is_a_server_fault(sb: Sandbox, weaver: zeep.Client) -> None:
    faults(sb, "weaver", fail_next=1)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        weaver.service.getWorkflowRequestByExternalNo("JK-1")
    assert caught.value.code == "soap:Server" and "模拟故障" in caught.value.message
    assert weaver.service.getWorkflowRequestByExternalNo("JK-1") is None


def test_control_api_is_never_faulted(sb: Sandbox) -> None:
    faults(sb, "seeyon", fail_next=5)
    assert control(sb, "seeyon", "GET", "/tasks") == []
    assert control(sb, "seeyon", "GET", "/faults")["plan"]["fail_next"] == 5
    control(sb, "seeyon", "POST", "/reset")
    assert control(sb, "seeyon", "GET", "/faults")["plan"]["fail_next"] == 0


def test_path_prefix_limits_the_fault(sb: Sandbox) -> None:
    faults(sb, "seeyon", fail_next=1, path_prefix="/seeyon/rest/bpm")
    login = requests.get(f"{sb.urls['seeyon']}/seeyon/rest/token/hub/seeyon-sandbox", timeout=5)
    assert login.status_code == 200


def test_timeout_after_commit_on_soap_stores_the_request(sb: Sandbox) -> None:
    """The client gives up, yet the request exists: a blind retry would duplicate it."""
    impatient = soap_client(sb.urls["weaver"] + "/services/WorkflowService?wsdl", timeout=0.3)
    faults(sb, "weaver", timeout_next=1, timeout_seconds=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        impatient.service.doCreateWorkflowRequest(request_info("JK-TIMEOUT"), 8)
    found = impatient.service.getWorkflowRequestByExternalNo("JK-TIMEOUT")
    assert found is not None and int(found.requestId) > 0
    assert len(control(sb, "weaver", "GET", "/tasks")) == 1


def test_timeout_after_commit_on_rest_stores_the_flow(sb: Sandbox) -> None:
    base = sb.urls["seeyon"] + "/seeyon/rest"
    token = requests.get(f"{base}/token/hub/seeyon-sandbox", timeout=5).text
    faults(sb, "seeyon", timeout_next=1, timeout_seconds=1.0)
    body = {"templateCode": "JKQ_CGJ_SQ", "subject": "超时测试", "hub_wo_no": "JK-T2"}
    with pytest.raises(requests.exceptions.Timeout):
        requests.post(f"{base}/bpm/process/start", json=body, headers={"token": token}, timeout=0.3)
    found = requests.get(
        f"{base}/flow/query", params={"hub_wo_no": "JK-T2"}, headers={"token": token}, timeout=5
    ).json()["data"]
    assert len(found) == 1


def corrupted(sb: Sandbox, system: str, kind: str, **extra: object) -> requests.Response:
    faults(sb, system, corrupt_next=1, corrupt=kind, **extra)
    if system == "hotline":
        return hotline_get(sb)
    return requests.post(sb.urls[system] + "/services/WorkflowService", data=b"<x/>", timeout=5)


def test_malformed_xml_and_json(sb: Sandbox) -> None:
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(corrupted(sb, "weaver", "malformed").content, HARDENED)
    with pytest.raises(ValueError):
        corrupted(sb, "hotline", "malformed").json()


@pytest.mark.parametrize("kind", ["billion_laughs", "xxe", "external_dtd"])
def test_hostile_xml_carries_a_doctype(sb: Sandbox, kind: str) -> None:
    response = corrupted(sb, "weaver", kind)
    assert response.headers["content-type"].startswith("text/xml")
    assert b"<!DOCTYPE" in response.content
    try:
        root = etree.fromstring(response.content, HARDENED)
    except etree.XMLSyntaxError as exc:  # libxml2's own amplification guard
        assert "amplification" in str(exc)
    else:
        assert root.getroottree().docinfo.doctype  # a hardened client must refuse this
        assert b"root:" not in etree.tostring(root)


def test_billion_laughs_would_explode() -> None:
    from hub.sandbox.faults import BILLION_LAUGHS

    assert BILLION_LAUGHS.count(b"<!ENTITY") == 10 and len(BILLION_LAUGHS) < 2048


def test_oversize_response(sb: Sandbox) -> None:
    response = corrupted(sb, "hotline", "oversize", oversize_bytes=3 * 1024 * 1024)
    assert len(response.content) > 3 * 1024 * 1024
    assert len(corrupted(sb, "weaver", "oversize", oversize_bytes=2048).content) > 2048


def test_invalid_charset_bytes(sb: Sandbox) -> None:
    for system in ("hotline", "weaver"):
        content = corrupted(sb, system, "bad_charset").content
        for charset in ("utf-8", "gbk"):
            with pytest.raises(UnicodeDecodeError):
                content.decode(charset)


def test_reset_clears_data_and_faults(sb: Sandbox, weaver: zeep.Client) -> None:
    weaver.service.doCreateWorkflowRequest(request_info("JK-R"), 8)
    faults(sb, "weaver", latency_ms=50)
    control(sb, "weaver", "POST", "/reset")
    assert control(sb, "weaver", "GET", "/tasks") == []
    assert control(sb, "weaver", "GET", "/faults")["plan"]["latency_ms"] == 0
