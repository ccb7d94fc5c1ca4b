"""Realistic records as each sandbox system sends them, shared by the mapping tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

WEAVER_NS = "http://webservices.workflow.weaver"

WEAVER_RESPONSE = f"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <getWorkflowRequestResponse xmlns="{WEAVER_NS}">
      <out>
        <requestId>20431</requestId>
        <requestName>【12345】夜间施工噪音扰民</requestName>
        <requestLevel>1</requestLevel>
        <creatorId>8</creatorId>
        <workflowBaseInfo><workflowId>1001</workflowId></workflowBaseInfo>
        <currentNodeName>承办人办理</currentNodeName>
        <status>办理中</status>
        <lastOperatorName>李承办</lastOperatorName>
        <lastOperateTime>2026-01-05 10:20:30</lastOperateTime>
        <logs>
          <RequestLog><id>1</id><remark>已签收</remark></RequestLog>
          <RequestLog><id>2</id><remark>已联系施工方整改</remark></RequestLog>
        </logs>
      </out>
    </getWorkflowRequestResponse>
  </soap:Body>
</soap:Envelope>""".encode()

SEEYON_STATE: dict[str, Any] = {
    "code": 0,
    "message": "成功",
    "data": {
        "flowId": "7340012345678900001",
        "state": 3,
        "stateName": "已结束",
        "currentNode": "结束",
        "updateTime": "2026-01-06 15:00:00",
        "handler": "赵主任",
        "opinion": "已处理完毕",
    },
}

TONGDA_ROW: dict[str, Any] = {
    "task_no": "GD20260105000123",
    "title": "路灯不亮",
    "content": "某小区门口路灯连续三天不亮",
    "urgency": 0,
    "status": 3,
    "created_at": "2026-01-05 09:00:00",
    "handler": "钱经办",
    "opinion": "不属于本单位职责",
    "updated_at": "2026-01-06 08:00:00",
}

HEBEI_MATTERS = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<queryTasksResponse xmlns="http://zwfw.hebei.gov.cn/exchange"><out>
<total>2</total><pageNo>1</pageNo><pageSize>100</pageSize><tasks>
  <TaskInfo>
    <task_code>111301000000000014000117</task_code>
    <catalog_code>000117001</catalog_code>
    <task_name>建设工程规划许可证核发</task_name>
    <task_type>01</task_type>
    <dept_code>11130100MB00000001</dept_code>
    <dept_name>石家庄经开区行政审批局</dept_name>
    <use_level>4</use_level>
    <anticipate_day>20</anticipate_day>
    <promise_day>5</promise_day>
    <limit_scene_num>1</limit_scene_num>
    <is_online>1</is_online>
    <online_handle_url>https://www.hbzwfw.gov.cn/item/000117001</online_handle_url>
    <task_state>1</task_state>
    <task_version>3</task_version>
    <cd_time>2026-01-04 18:00:00</cd_time>
  </TaskInfo>
  <TaskInfo>
    <task_code>111301000000000005000201</task_code>
    <catalog_code>000201002</catalog_code>
    <task_name>城镇最低生活保障对象认定</task_name>
    <task_type>05</task_type>
    <dept_name>石家庄经开区民政局</dept_name>
    <use_level>4</use_level>
    <anticipate_day>30</anticipate_day>
    <promise_day>15</promise_day>
    <limit_scene_num>0</limit_scene_num>
    <is_online>0</is_online>
    <task_state>2</task_state>
    <task_version>1</task_version>
    <cd_time>20260103120000</cd_time>
  </TaskInfo>
</tasks></out></queryTasksResponse></soap:Body></soap:Envelope>""".encode()

HEBEI_CASE = """<out xmlns="http://zwfw.hebei.gov.cn/exchange"><projects><ProjectInfo>
  <project_no>SP2026010500001</project_no>
  <task_code>111301000000000014000117</task_code>
  <task_version>3</task_version>
  <task_name>建设工程规划许可证核发</task_name>
  <applicant>张三</applicant>
  <apply_date>2026-01-02 09:00:00</apply_date>
  <accept_date>2026-01-02 09:30:00</accept_date>
  <promise_date>2026-01-09 17:00:00</promise_date>
  <result_type>1</result_type>
  <result_date>2026-01-05 11:00:00</result_date>
  <satisfaction>1</satisfaction>
  <visits>1</visits>
  <cd_operation>U</cd_operation>
  <cd_time>2026-01-05 11:00:00</cd_time>
</ProjectInfo>
<ProjectInfo>
  <project_no>SP2026010500002</project_no>
  <task_code>111301000000000014000117</task_code>
  <applicant>李四</applicant>
  <apply_date>2026-01-05 09:00:00</apply_date>
</ProjectInfo></projects></out>""".encode()

HOTLINE_PAGE: dict[str, Any] = {
    "code": 0,
    "total": 2,
    "page": 1,
    "size": 50,
    "orders": [
        {
            "orderNo": "RX202601050001",
            "hotline": "12315",
            "callTime": "2026-01-05 09:30:00",
            "caller": {"name": "王五", "mobile": " 139-1234-5678 / 13912345678 "},
            "type": "投诉",
            "urgency": "紧急",
            "content": "某超市销售过期食品，要求处理并答复。",
            "address": "经开区长江大道100号",
        },
        {
            "orderNo": "RX202601050002",
            "hotline": "12345",
            "callTime": "2026-01-05 09:40:00",
            "caller": {"name": "赵六", "mobile": "13800001111"},
            "type": "咨询",
            "content": "咨询居住证办理需要哪些材料",
        },
    ],
}

WORK_ORDER: dict[str, Any] = {
    "wo_no": "GD20260105000123",
    "status": "dispatched",
    "origin": {"channel": "hotline", "source_system": "hotline_centre", "external_id": "RX1"},
    "appeal_type": "complaint",
    "title": "夜间施工噪音扰民",
    "content": "经开区某路口工地夜间施工，影响休息。",
    "urgency": "critical",
    "location": {"address": "经开区某路与某街交叉口"},
    "requester": {"name": "张三", "phone": "13812341234"},
    "sla": {"resolve_due": datetime(2026, 1, 12, 9, 0, tzinfo=UTC)},
    "reply": {
        "content": "已责令施工方夜间停工",
        "replied_at": datetime(2026, 1, 6, 8, 0, tzinfo=UTC),
        "replied_by": "环保局",
    },
    "created_at": datetime(2026, 1, 5, 1, 30, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 5, 1, 30, tzinfo=UTC),
}
