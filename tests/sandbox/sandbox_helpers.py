"""Helpers shared by the sandbox tests (fixtures are in sandbox_fixtures)."""

from __future__ import annotations

from typing import Any

import requests
import zeep
from zeep.transports import Transport

from hub.sandbox import Sandbox


def control(sandbox: Sandbox, system: str, method: str, path: str, **kwargs: Any) -> Any:
    """Call a system's control API and insist it worked."""
    url = f"{sandbox.urls[system]}/_sandbox{path}"
    response = requests.request(method, url, timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def soap_client(url: str, timeout: float = 10) -> zeep.Client:
    return zeep.Client(url, transport=Transport(timeout=timeout, operation_timeout=timeout))


def request_info(wo_no: str = "JK20261127000001", workflow_id: str = "1001", **extra: object):
    """A Weaver WorkflowRequestInfo as the hub's dispatch would send it."""
    fields = [
        {"fieldName": "hub_wo_no", "fieldValue": wo_no},
        {"fieldName": "title", "fieldValue": "夜间施工噪音扰民"},
        {"fieldName": "content", "fieldValue": "经开区某路口工地夜间施工，噪声很大。"},
    ]
    return {
        "requestName": "夜间施工噪音扰民",
        "requestLevel": 2,
        "creatorId": "8",
        "workflowBaseInfo": {"workflowId": workflow_id},
        "workflowMainTableInfo": {"requestRecords": {"WorkflowRequestTableField": fields}},
        **extra,
    }
