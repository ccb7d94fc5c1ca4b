"""Weaver e-cology style OA (泛微) over SOAP: ``WorkflowService`` with its own WSDL.

Creating returns the new request id as a string, or a negative code as Weaver does:
-1 unknown workflow, -2 user may not create it, -3 no request name, -5 bad request level.
The hub writes its work-order number into the main-table field ``hub_wo_no`` and can look
it up with ``getWorkflowRequestByExternalNo`` before creating (idempotent dispatch).
"""

from __future__ import annotations

from typing import Any

from hub.sandbox.desk import DeskAction, DeskInput, OASystem, Stage
from hub.sandbox.soap import Handler, Reader, SoapFault, SoapSystem
from hub.sandbox.storage import format_time, now_local
from hub.sandbox.wsdl import Operation

NS = "http://webservices.workflow.weaver"
EXTERNAL_NO_FIELD = "hub_wo_no"

#: workflowId → name; the environment bureau's complaint-handling flow and a notice flow.
WORKFLOWS = {"1001": "12345诉求件办理流程", "1002": "督办通知流程"}
#: userId → name; 8 is the account the hub connector logs in as.
USERS = {1: "系统管理员", 8: "经开枢纽接口", 21: "王收文", 22: "李承办"}

#: Department stage → (currentNodeName, status) as Weaver shows them.
NODES = {
    Stage.PENDING: ("部门签收", "待签收"),
    Stage.WORKING: ("承办人办理", "办理中"),
    Stage.RETURNED: ("退回", "退回"),
    Stage.FINISHED: ("归档", "归档"),
}
OPERATE_TYPES = {
    DeskAction.SIGN: "签收",
    DeskAction.PROGRESS: "批注",
    DeskAction.RETURN: "退回",
    DeskAction.FINISH: "归档",
}

TYPES_XSD = """
<xsd:complexType name="WorkflowBaseInfo"><xsd:sequence>
  <xsd:element name="workflowId" type="xsd:string"/>
  <xsd:element name="workflowName" type="xsd:string" minOccurs="0" nillable="true"/>
</xsd:sequence></xsd:complexType>
<xsd:complexType name="WorkflowRequestTableField"><xsd:sequence>
  <xsd:element name="fieldName" type="xsd:string"/>
  <xsd:element name="fieldValue" type="xsd:string" minOccurs="0" nillable="true"/>
</xsd:sequence></xsd:complexType>
<xsd:complexType name="ArrayOfWorkflowRequestTableField"><xsd:sequence>
  <xsd:element name="WorkflowRequestTableField" type="tns:WorkflowRequestTableField"
      minOccurs="0" maxOccurs="unbounded"/>
</xsd:sequence></xsd:complexType>
<xsd:complexType name="WorkflowMainTableInfo"><xsd:sequence>
  <xsd:element name="requestRecords" type="tns:ArrayOfWorkflowRequestTableField"
      minOccurs="0"/>
</xsd:sequence></xsd:complexType>
<xsd:complexType name="RequestLog"><xsd:sequence>
  <xsd:element name="id" type="xsd:int"/>
  <xsd:element name="nodeName" type="xsd:string" minOccurs="0"/>
  <xsd:element name="operatorName" type="xsd:string" minOccurs="0"/>
  <xsd:element name="operateType" type="xsd:string" minOccurs="0"/>
  <xsd:element name="operateTime" type="xsd:string" minOccurs="0"/>
  <xsd:element name="remark" type="xsd:string" minOccurs="0" nillable="true"/>
</xsd:sequence></xsd:complexType>
<xsd:complexType name="ArrayOfRequestLog"><xsd:sequence>
  <xsd:element name="RequestLog" type="tns:RequestLog" minOccurs="0" maxOccurs="unbounded"/>
</xsd:sequence></xsd:complexType>
<xsd:complexType name="WorkflowRequestInfo"><xsd:sequence>
  <xsd:element name="requestId" type="xsd:string" minOccurs="0" nillable="true"/>
  <xsd:element name="requestName" type="xsd:string" minOccurs="0"/>
  <xsd:element name="requestLevel" minOccurs="0">
    <xsd:annotation><xsd:documentation>0 正常 normal, 1 重要 important, 2 紧急 urgent
    </xsd:documentation></xsd:annotation>
    <xsd:simpleType><xsd:restriction base="xsd:int">
      <xsd:minInclusive value="0"/><xsd:maxInclusive value="2"/>
    </xsd:restriction></xsd:simpleType>
  </xsd:element>
  <xsd:element name="creatorId" type="xsd:string" minOccurs="0"/>
  <xsd:element name="createTime" type="xsd:string" minOccurs="0"/>
  <xsd:element name="workflowBaseInfo" type="tns:WorkflowBaseInfo" minOccurs="0"/>
  <xsd:element name="workflowMainTableInfo" type="tns:WorkflowMainTableInfo" minOccurs="0"/>
  <xsd:element name="currentNodeName" type="xsd:string" minOccurs="0"/>
  <xsd:element name="status" type="xsd:string" minOccurs="0"/>
  <xsd:element name="lastOperatorName" type="xsd:string" minOccurs="0"/>
  <xsd:element name="lastOperateTime" type="xsd:string" minOccurs="0"/>
  <xsd:element name="logs" type="tns:ArrayOfRequestLog" minOccurs="0"/>
</xsd:sequence></xsd:complexType>
"""

OPERATIONS = (
    Operation(
        "doCreateWorkflowRequest",
        (("requestInfo", "tns:WorkflowRequestInfo", False), ("userId", "xsd:int", False)),
        "xsd:string",
        "创建流程，返回 requestId；负数表示失败 (negative = failure)",
    ),
    Operation(
        "getWorkflowRequest",
        (
            ("userId", "xsd:int", False),
            ("requestId", "xsd:int", False),
            ("forwardFlag", "xsd:int", True),
        ),
        "tns:WorkflowRequestInfo",
        "读取流程当前节点、状态与日志 (read state)",
    ),
    Operation(
        "getWorkflowRequestLogs",
        (("requestId", "xsd:int", False),),
        "tns:ArrayOfRequestLog",
        "流程签字意见日志 (request logs)",
    ),
    Operation(
        "getWorkflowRequestByExternalNo",
        (("externalNo", "xsd:string", False),),
        "tns:WorkflowRequestInfo",
        "按主表字段 hub_wo_no 查询，无则为空 (idempotency lookup; empty when none)",
    ),
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS workflow_request (
    request_id INTEGER PRIMARY KEY,
    request_name TEXT NOT NULL,
    request_level INTEGER NOT NULL DEFAULT 0,
    creator_id INTEGER NOT NULL,
    workflow_id TEXT NOT NULL,
    hub_wo_no TEXT,
    stage TEXT NOT NULL,
    last_operator TEXT,
    last_operate_time TEXT,
    create_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_workflow_request_hub_wo_no ON workflow_request (hub_wo_no);
CREATE TABLE IF NOT EXISTS workflow_field (
    request_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    field_name TEXT NOT NULL,
    field_value TEXT,
    PRIMARY KEY (request_id, position)
);
CREATE TABLE IF NOT EXISTS workflow_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL,
    node_name TEXT,
    operator_name TEXT,
    operate_type TEXT,
    operate_time TEXT,
    remark TEXT
);
"""

FIRST_REQUEST_ID = 10001


class WeaverSystem(SoapSystem, OASystem):
    """The environment bureau's Weaver OA (connector ``weaver_env``)."""

    name = "weaver"
    title = "泛微 e-cology OA（环保局）"
    namespace = NS
    service_name = "WorkflowService"
    service_path = "/services/WorkflowService"
    entry = "/services/WorkflowService?wsdl"
    types_xsd = TYPES_XSD
    operations = OPERATIONS
    schema = SCHEMA
    tables = ("workflow_request", "workflow_field", "workflow_log")

    def handlers(self) -> dict[str, Handler]:
        return {
            "doCreateWorkflowRequest": self.create,
            "getWorkflowRequest": self.get_request,
            "getWorkflowRequestLogs": self.get_logs,
            "getWorkflowRequestByExternalNo": self.by_external_no,
        }

    # --- SOAP operations ------------------------------------------------------------------

    def create(self, params: Reader) -> str:
        info = params.child("requestInfo")
        user_id = params.integer("userId")
        workflow_id = info.text("workflowBaseInfo/workflowId") if info else ""
        if info is None or workflow_id not in WORKFLOWS:
            return "-1"
        if user_id not in USERS:
            return "-2"
        if not info.text("requestName"):
            return "-3"
        level = info.integer("requestLevel")
        if level not in (0, 1, 2):
            return "-5"
        fields = [
            (f.text("fieldName"), f.text("fieldValue"))
            for f in info.children("workflowMainTableInfo/requestRecords/WorkflowRequestTableField")
        ]
        wo_no = next((value for name, value in fields if name == EXTERNAL_NO_FIELD), None)
        now = format_time(now_local())
        with self.store.transaction() as conn:
            request_id = conn.execute(
                "SELECT COALESCE(MAX(request_id), ?) + 1 FROM workflow_request",
                (FIRST_REQUEST_ID - 1,),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO workflow_request (request_id, request_name, request_level,"
                " creator_id, workflow_id, hub_wo_no, stage, last_operator,"
                " last_operate_time, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request_id,
                    info.text("requestName"),
                    level,
                    user_id,
                    workflow_id,
                    wo_no,
                    Stage.PENDING.value,
                    USERS[user_id],
                    now,
                    now,
                ),
            )
            conn.executemany(
                "INSERT INTO workflow_field (request_id, position, field_name, field_value)"
                " VALUES (?, ?, ?, ?)",
                [(request_id, i, name, value) for i, (name, value) in enumerate(fields)],
            )
            conn.execute(
                "INSERT INTO workflow_log (request_id, node_name, operator_name, operate_type,"
                " operate_time, remark) VALUES (?, '创建', ?, '提交', ?, '')",
                (request_id, USERS[user_id], now),
            )
        return str(request_id)

    def get_request(self, params: Reader) -> dict[str, Any]:
        request_id = params.integer("requestId")
        if self.find_task(str(request_id), by_wo_no=False) is None:
            raise SoapFault(f"流程不存在 (request not found): {request_id}")
        return self.request_info(request_id)

    def get_logs(self, params: Reader) -> dict[str, Any]:
        request_id = params.integer("requestId")
        if self.find_task(str(request_id), by_wo_no=False) is None:
            raise SoapFault(f"流程不存在 (request not found): {request_id}")
        return {"RequestLog": self._logs(request_id)}

    def by_external_no(self, params: Reader) -> dict[str, Any] | None:
        request_id = self.find_task(params.text("externalNo"), by_wo_no=True)
        return None if request_id is None else self.request_info(request_id)

    # --- reading rows ---------------------------------------------------------------------

    def _logs(self, request_id: int) -> list[dict[str, Any]]:
        return [
            {
                "id": row["id"],
                "nodeName": row["node_name"],
                "operatorName": row["operator_name"],
                "operateType": row["operate_type"],
                "operateTime": row["operate_time"],
                "remark": row["remark"],
            }
            for row in self.store.rows(
                "SELECT * FROM workflow_log WHERE request_id = ? ORDER BY id", (request_id,)
            )
        ]

    def _fields(self, request_id: int) -> list[dict[str, Any]]:
        return [
            {"fieldName": row["field_name"], "fieldValue": row["field_value"]}
            for row in self.store.rows(
                "SELECT field_name, field_value FROM workflow_field WHERE request_id = ?"
                " ORDER BY position",
                (request_id,),
            )
        ]

    def request_info(self, request_id: int) -> dict[str, Any]:
        """A WorkflowRequestInfo, keys in the order of the XSD sequence."""
        row = self.store.row("SELECT * FROM workflow_request WHERE request_id = ?", (request_id,))
        assert row is not None
        node, status = NODES[Stage(row["stage"])]
        return {
            "requestId": str(request_id),
            "requestName": row["request_name"],
            "requestLevel": row["request_level"],
            "creatorId": str(row["creator_id"]),
            "createTime": row["create_time"],
            "workflowBaseInfo": {
                "workflowId": row["workflow_id"],
                "workflowName": WORKFLOWS[row["workflow_id"]],
            },
            "workflowMainTableInfo": {
                "requestRecords": {"WorkflowRequestTableField": self._fields(request_id)}
            },
            "currentNodeName": node,
            "status": status,
            "lastOperatorName": row["last_operator"],
            "lastOperateTime": row["last_operate_time"],
            "logs": {"RequestLog": self._logs(request_id)},
        }

    # --- department desk ------------------------------------------------------------------

    def find_task(self, key: str, by_wo_no: bool) -> int | None:
        if by_wo_no:
            sql = "SELECT MIN(request_id) FROM workflow_request WHERE hub_wo_no = ?"
            return self.store.scalar(sql, (key,))
        if not key.lstrip("-").isdigit():
            return None
        sql = "SELECT request_id FROM workflow_request WHERE request_id = ?"
        return self.store.scalar(sql, (int(key),))

    def stage_of(self, task_id: Any) -> Stage:
        return Stage(
            self.store.scalar("SELECT stage FROM workflow_request WHERE request_id = ?", (task_id,))
        )

    def apply(self, task_id: Any, action: DeskAction, to: Stage, data: DeskInput) -> None:
        now = format_time(now_local())
        node_before = NODES[self.stage_of(task_id)][0]
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE workflow_request SET stage = ?, last_operator = ?, last_operate_time = ?"
                " WHERE request_id = ?",
                (to.value, data.operator, now, task_id),
            )
            conn.execute(
                "INSERT INTO workflow_log (request_id, node_name, operator_name, operate_type,"
                " operate_time, remark) VALUES (?, ?, ?, ?, ?, ?)",
                (task_id, node_before, data.operator, OPERATE_TYPES[action], now, data.opinion),
            )

    def describe(self, task_id: Any) -> dict[str, Any]:
        info = self.request_info(task_id)
        fields = info["workflowMainTableInfo"]["requestRecords"]["WorkflowRequestTableField"]
        return {
            **info,
            "stage": self.stage_of(task_id).value,
            "hub_wo_no": next(
                (f["fieldValue"] for f in fields if f["fieldName"] == EXTERNAL_NO_FIELD), None
            ),
            "fields": {f["fieldName"]: f["fieldValue"] for f in fields},
        }

    def list_tasks(self) -> list[dict[str, Any]]:
        ids = self.store.rows("SELECT request_id FROM workflow_request ORDER BY request_id")
        return [self.describe(row["request_id"]) for row in ids]
