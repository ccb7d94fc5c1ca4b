"""Code lists of the canonical model, each code with its Chinese label.

Codes are stable English identifiers (they travel in APIs and mapping files); labels are
what response-centre staff and citizens read. GB/T 39046 lists keep their numeric codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self


class CodeList(StrEnum):
    """A string enum whose members carry a Chinese label."""

    label: str

    def __new__(cls, value: str, label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def choices(cls) -> list[dict[str, Any]]:
        """The list as shown by the API: code and label."""
        return [{"code": m.value, "label": m.label} for m in cls]


class AppealType(CodeList):
    CONSULTATION = "consultation", "咨询"
    HELP = "help", "求助"
    COMPLAINT = "complaint", "投诉"
    REPORT = "report", "举报"
    SUGGESTION = "suggestion", "意见建议"
    PRAISE = "praise", "表扬"


class Urgency(CodeList):
    NORMAL = "normal", "一般"
    URGENT = "urgent", "紧急"
    CRITICAL = "critical", "特急"


class Channel(CodeList):
    PORTAL = "portal", "门户网站"
    APP = "app", "移动客户端"
    WECHAT = "wechat", "微信公众号"
    HOTLINE = "hotline", "热线电话"
    OPEN311 = "open311", "Open311 接口"
    HEBEI_NETWORK = "hebei_network", "河北政务服务网"
    COUNTER = "counter", "服务窗口"
    EMAIL = "email", "电子邮件"
    SMS = "sms", "短信"
    OTHER = "other", "其他渠道"


class WorkOrderState(CodeList):
    """Hub states (DOMAIN.md §6); `is_open` gives the Open311 status."""

    RECEIVED = "received", "已受理"
    ANSWERED_DIRECTLY = "answered_directly", "直接答复办结"
    TRIAGED = "triaged", "已分单"
    DISPATCHED = "dispatched", "已派单"
    SIGNED = "signed", "已签收"
    IN_PROGRESS = "in_progress", "办理中"
    EXTENDED = "extended", "延期办理"
    RETURNED = "returned", "退单待改派"
    RESOLVED = "resolved", "已办结（部门反馈）"
    REPLIED = "replied", "已答复诉求人"
    REVISITED = "revisited", "已回访"
    REOPENED = "reopened", "重办"
    ARCHIVED = "archived", "已归档"
    OUT_OF_SCOPE = "out_of_scope", "不予受理（告知途径）"
    TRANSFERRED_EMERGENCY = "transferred_emergency", "转紧急热线"
    DUPLICATE = "duplicate", "并入他单"
    CANCELLED = "cancelled", "已撤销"

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_STATES

    @property
    def open311_status(self) -> str:
        return "open" if self.is_open else "closed"


CLOSED_STATES: frozenset[WorkOrderState] = frozenset(
    {
        WorkOrderState.ANSWERED_DIRECTLY,
        WorkOrderState.RESOLVED,
        WorkOrderState.REPLIED,
        WorkOrderState.REVISITED,
        WorkOrderState.ARCHIVED,
        WorkOrderState.OUT_OF_SCOPE,
        WorkOrderState.TRANSFERRED_EMERGENCY,
        WorkOrderState.DUPLICATE,
        WorkOrderState.CANCELLED,
    }
)


class AssignmentRole(CodeList):
    LEAD = "lead", "主办"
    CO = "co", "协办"


class AssignmentState(CodeList):
    PENDING = "pending", "待派单"
    DISPATCHED = "dispatched", "已派单"
    SIGNED = "signed", "已签收"
    IN_PROGRESS = "in_progress", "办理中"
    FED_BACK = "fed_back", "已反馈"
    RETURNED = "returned", "已退单"
    WITHDRAWN = "withdrawn", "已撤回"


class DeliveryState(CodeList):
    PENDING = "pending", "待投递"
    SENT = "sent", "投递中"
    DELIVERED = "delivered", "已投递"
    FAILED = "failed", "投递失败"
    INBOX = "inbox", "转入枢纽收件箱"


class OrgTier(CodeList):
    DISTRICT = "district", "区级"
    DEPARTMENT = "department", "区直部门"
    TOWN_STREET = "town_street", "镇（街道）"
    VILLAGE_COMMUNITY = "village_community", "村（社区）"
    PUBLIC_SERVICE = "public_service", "公共服务单位"
    SOCIAL_UNIT = "social_unit", "社会服务单位"


class EventAction(CodeList):
    """Timeline and audit actions; supervision marks are actions, not states."""

    RECEIVED = "received", "受理"
    ANSWERED = "answered", "直接答复"
    TRIAGED = "triaged", "分单"
    DISPATCHED = "dispatched", "派单"
    DELIVERED = "delivered", "送达部门系统"
    SIGNED = "signed", "签收"
    PROGRESS = "progress", "办理进展"
    FEEDBACK = "feedback", "部门反馈"
    RETURNED = "returned", "退单"
    REASSIGNED = "reassigned", "改派"
    EXTENDED = "extended", "延期"
    REPLIED = "replied", "答复诉求人"
    REVISITED = "revisited", "回访"
    REOPENED = "reopened", "重办"
    MERGED = "merged", "并单"
    SPLIT = "split", "拆单"
    WARNED = "warned", "预警"
    URGED = "urged", "催办"
    SUPERVISED = "supervised", "督办"
    OVERDUE = "overdue", "超期"
    TRANSFERRED = "transferred", "转紧急热线"
    REJECTED = "rejected", "不予受理"
    CANCELLED = "cancelled", "撤销"
    ARCHIVED = "archived", "归档"
    NOTE = "note", "备注"


class MatterType(CodeList):
    """GB/T 39046 appendix A: 事项类型."""

    POWER = "00", "行政权力"
    LICENCE = "01", "行政许可"
    PENALTY = "02", "行政处罚"
    ENFORCEMENT = "03", "行政强制"
    LEVY = "04", "行政征收"
    BENEFIT = "05", "行政给付"
    INSPECTION = "06", "行政检查"
    CONFIRMATION = "07", "行政确认"
    REWARD = "08", "行政奖励"
    RULING = "09", "行政裁决"
    OTHER_POWER = "10", "其他行政权力"
    PUBLIC_SERVICE = "20", "公共服务"


class UseLevel(CodeList):
    """GB/T 39046: 行使层级."""

    NATIONAL = "1", "国家级"
    PROVINCIAL = "2", "省级"
    MUNICIPAL = "3", "市级"
    COUNTY = "4", "县级"
    TOWN = "5", "乡镇（街道）级"
    VILLAGE = "6", "村（社区）级"
    GRADED = "7", "分级行使"


class BodyNature(CodeList):
    STATUTORY = "1", "法定机关"
    AUTHORISED = "2", "法律法规授权组织"
    ENTRUSTED = "3", "受委托组织"
    OTHER = "9", "其他"


class ServiceObject(CodeList):
    NATURAL_PERSON = "1", "自然人"
    ENTERPRISE = "2", "企业法人"
    PUBLIC_INSTITUTION = "3", "事业法人"
    SOCIAL_ORGANISATION = "4", "社会组织法人"
    ADMINISTRATIVE_ORGAN = "5", "行政机关"
    OTHER = "6", "其他组织"


class HandlingForm(CodeList):
    COUNTER = "1", "窗口办理"
    ONLINE = "2", "网上办理"
    MOBILE = "3", "移动端办理"
    COURIER = "4", "快递申请"
    OTHER = "9", "其他"


class CaseType(CodeList):
    IMMEDIATE = "1", "即办件"
    PROMISED = "2", "承诺件"
    OTHER = "9", "其他"


class Satisfaction(CodeList):
    """1 very satisfied … 5 very dissatisfied; 4 and 5 are bad reviews (差评)."""

    VERY_SATISFIED = "1", "非常满意"
    SATISFIED = "2", "满意"
    BASIC = "3", "基本满意"
    DISSATISFIED = "4", "不满意"
    VERY_DISSATISFIED = "5", "非常不满意"

    @property
    def is_bad_review(self) -> bool:
        return self in (Satisfaction.DISSATISFIED, Satisfaction.VERY_DISSATISFIED)


class EvaluationChannel(CodeList):
    PC = "pc", "电脑端"
    MOBILE = "mobile", "移动端"
    QR_CODE = "qr_code", "二维码"
    TERMINAL = "terminal", "窗口评价器"
    PHONE = "phone", "电话"
    SMS = "sms", "短信"


class TimeLimitUnit(CodeList):
    WORKING_DAY = "working_day", "工作日"
    NATURAL_DAY = "natural_day", "自然日"
    HOUR = "hour", "小时"
    MONTH = "month", "月"


class StepAction(CodeList):
    PASS = "pass", "通过"
    RETURN = "return", "退回"
    OTHER = "other", "其他"


class MatterStatus(CodeList):
    ACTIVE = "active", "在用"
    SUSPENDED = "suspended", "暂停"
    DELETED = "deleted", "已取消"


ALL_CODE_LISTS: dict[str, type[CodeList]] = {
    "appeal_type": AppealType,
    "urgency": Urgency,
    "channel": Channel,
    "work_order_state": WorkOrderState,
    "assignment_role": AssignmentRole,
    "assignment_state": AssignmentState,
    "delivery_state": DeliveryState,
    "org_tier": OrgTier,
    "event_action": EventAction,
    "matter_type": MatterType,
    "use_level": UseLevel,
    "body_nature": BodyNature,
    "service_object": ServiceObject,
    "handling_form": HandlingForm,
    "case_type": CaseType,
    "satisfaction": Satisfaction,
    "evaluation_channel": EvaluationChannel,
    "time_limit_unit": TimeLimitUnit,
    "step_action": StepAction,
    "matter_status": MatterStatus,
}
