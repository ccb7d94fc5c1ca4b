"""Weaver OA over SOAP, through a zeep client loading the sandbox's own WSDL."""

from __future__ import annotations

import pytest
import requests
import zeep
from sandbox_helpers import control, request_info

from hub.sandbox import Sandbox

#: The sandbox fixtures: running, sb (reset before each test), weaver, hebei.
pytest_plugins = ["sandbox_fixtures"]


def test_wsdl_lists_every_operation(weaver: zeep.Client) -> None:
    operations = set(weaver.service._binding._operations)
    assert operations == {
        "doCreateWorkflowRequest",
        "getWorkflowRequest",
        "getWorkflowRequestLogs",
        "getWorkflowRequestByExternalNo",
    }


def test_create_then_read_back(sb: Sandbox, weaver: zeep.Client) -> None:
    request_id = weaver.service.doCreateWorkflowRequest(request_info(), 8)
    assert int(request_id) > 0
    info = weaver.service.getWorkflowRequest(8, int(request_id), 0)
    assert info.requestName == "夜间施工噪音扰民"
    assert info.requestLevel == 2
    assert info.workflowBaseInfo.workflowName == "12345诉求件办理流程"
    assert (info.currentNodeName, info.status) == ("部门签收", "待签收")
    fields = info.workflowMainTableInfo.requestRecords.WorkflowRequestTableField
    assert {f.fieldName: f.fieldValue for f in fields}["hub_wo_no"] == "JK20261127000001"
    logs = weaver.service.getWorkflowRequestLogs(int(request_id))
    assert [log.operateType for log in logs] == ["提交"]
    # What the hub sent, as the department sees it.
    sent = control(sb, "weaver", "GET", "/tasks")
    assert sent[0]["fields"]["content"].startswith("经开区某路口")


def test_lookup_by_external_number_makes_create_idempotent(
    sb: Sandbox, weaver: zeep.Client
) -> None:
    assert weaver.service.getWorkflowRequestByExternalNo("JK-NONE") is None
    request_id = weaver.service.doCreateWorkflowRequest(request_info("JK-1"), 8)
    found = weaver.service.getWorkflowRequestByExternalNo("JK-1")
    assert found.requestId == request_id


@pytest.mark.parametrize(
    ("info", "user", "code"),
    [
        (request_info(workflow_id="9999"), 8, "-1"),
        (request_info(), 4242, "-2"),
        (request_info(requestName=""), 8, "-3"),
    ],
)
def test_failures_are_negative_ids(sb: Sandbox, weaver: zeep.Client, info, user, code) -> None:
    assert weaver.service.doCreateWorkflowRequest(info, user) == code
    assert control(sb, "weaver", "GET", "/tasks") == []


def test_unknown_request_is_a_soap_fault(sb: Sandbox, weaver: zeep.Client) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        weaver.service.getWorkflowRequest(8, 4711, 0)
    assert "流程不存在" in caught.value.message


def test_department_actions_show_in_soap_state(sb: Sandbox, weaver: zeep.Client) -> None:
    request_id = int(weaver.service.doCreateWorkflowRequest(request_info("JK-2"), 8))
    control(sb, "weaver", "POST", f"/tasks/{request_id}/sign", json={"operator": "王收文"})
    info = weaver.service.getWorkflowRequest(8, request_id, 0)
    assert (info.currentNodeName, info.lastOperatorName) == ("承办人办理", "王收文")
    control(sb, "weaver", "POST", "/by-wo-no/JK-2/finish", json={"opinion": "已责令停工"})
    info = weaver.service.getWorkflowRequest(8, request_id, 0)
    assert info.status == "归档"
    assert [log.operateType for log in info.logs.RequestLog] == ["提交", "签收", "归档"]
    assert info.logs.RequestLog[-1].remark == "已责令停工"
    # A finished request cannot be returned.
    response = requests.post(f"{sb.urls['weaver']}/_sandbox/tasks/{request_id}/return", timeout=5)
    assert response.status_code == 409


def test_return_records_the_reason(sb: Sandbox, weaver: zeep.Client) -> None:
    request_id = int(weaver.service.doCreateWorkflowRequest(request_info("JK-3"), 8))
    reason = "不属于本单位职责，应由社区物业处理"
    control(sb, "weaver", "POST", "/by-wo-no/JK-3/return", json={"opinion": reason})
    logs = weaver.service.getWorkflowRequestLogs(request_id)
    assert (logs[-1].operateType, logs[-1].remark) == ("退回", reason)


ENVELOPE = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:w="http://webservices.workflow.weaver"><soap:Body>{}</soap:Body></soap:Envelope>'
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            + ENVELOPE.format(
                "<w:getWorkflowRequestLogs><w:requestId>&x;</w:requestId>"
                "</w:getWorkflowRequestLogs>"
            ),
            "DTD",
        ),
        (ENVELOPE.format("<w:getWorkflowRequestLogs>"), "malformed XML"),
        (ENVELOPE.format("<w:dropAllTables/>"), "unknown operation"),
        ("<notsoap/>", "not a SOAP 1.1 envelope"),
    ],
)
def test_hostile_or_broken_requests_get_client_faults(sb: Sandbox, body: str, message: str) -> None:
    response = requests.post(
        sb.urls["weaver"] + "/services/WorkflowService",
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=5,
    )
    assert response.status_code == 500
    assert "<faultcode>soap:Client</faultcode>" in response.text
    assert message in response.text
    assert "root:" not in response.text
