"""WorkOrder (工单): a citizen's or an enterprise's request and everything done with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from hub.model.base import Canonical, Inbound, matching
from hub.model.codes import (
    AppealType,
    AssignmentRole,
    AssignmentState,
    Channel,
    DeliveryState,
    EventAction,
    Satisfaction,
    Urgency,
    WorkOrderState,
)
from hub.model.validators import CreditCode, MobileNumber, RegionCode, ResidentId

MAX_CONTENT = 4000
MAX_TITLE = 100

Email = Annotated[
    str,
    matching(
        r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$",
        "电子邮箱格式不正确 (invalid email address)",
    ),
    AfterValidator(str.lower),
]
Code = Annotated[
    str,
    matching(
        r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
        "编码只能包含字母、数字、点、横线和下划线 (invalid code)",
    ),
]
ShortText = Annotated[str, StringConstraints(max_length=200)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


#: Inbound validates defaults, for bodies whose defaults need coercing. The defaults of the
#: submission and its parts are already valid values (None, False, Urgency.NORMAL, empty
#: list and dict), so checking them again on every submission, intake and mapping alike,
#: would change nothing; tests/model/test_codes_and_records.py keeps it so.
_CANONICAL_DEFAULTS = ConfigDict(validate_default=False)


class Location(Inbound):
    model_config = _CANONICAL_DEFAULTS

    address: ShortText | None = None
    address_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    region_code: RegionCode | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _coordinates_in_pairs(self) -> Location:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("经纬度须同时提供 (latitude and longitude go together)")
        return self


class Requester(Inbound):
    """Personal data stays here; views mask it (see hub.model.views)."""

    model_config = _CANONICAL_DEFAULTS

    name: Annotated[str, StringConstraints(max_length=50)] | None = None
    phone: MobileNumber | None = None
    email: Email | None = None
    id_number: ResidentId | None = None
    enterprise_name: ShortText | None = None
    credit_code: CreditCode | None = None
    anonymous: bool = False
    confidential: bool = False

    @model_validator(mode="after")
    def _contact_unless_anonymous(self) -> Requester:
        if not self.anonymous and not (self.phone or self.email):
            raise ValueError(
                "非匿名诉求须提供联系电话或电子邮箱 (a phone or email is required unless anonymous)"
            )
        return self


class Attachment(Inbound):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    url: HttpUrl
    media_type: Annotated[str, StringConstraints(max_length=100)] | None = None


AttributeValue = str | int | float | bool | list[str]


class WorkOrderSubmission(Inbound):
    """What a channel sends to open a work order (POST /api/v1/work-orders)."""

    model_config = _CANONICAL_DEFAULTS

    channel: Channel
    source_system: Code | None = None
    external_id: ExternalId | None = None
    source_hotline: Annotated[str, StringConstraints(pattern=r"^\d{3,8}$")] | None = None
    appeal_type: AppealType
    category_code: Code | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE)]
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT)]
    urgency: Urgency = Urgency.NORMAL
    location: Location | None = None
    requester: Requester
    matter_code: Annotated[str, StringConstraints(max_length=24)] | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)
    attributes: dict[Code, AttributeValue] = Field(default_factory=dict, max_length=50)
    occurred_at: datetime | None = None

    @model_validator(mode="after")
    def _external_id_needs_source(self) -> WorkOrderSubmission:
        if self.external_id and not self.source_system:
            raise ValueError("external_id 须与 source_system 同时提供 (needs source_system)")
        return self


class Origin(Canonical):
    channel: Channel
    source_system: str | None = None
    external_id: str | None = None
    source_hotline: str | None = None  # the merged hotline dialled (12345, 12315 …)


class Assignment(Canonical):
    id: int | None = None
    unit_code: str
    role: AssignmentRole
    state: AssignmentState = AssignmentState.PENDING
    delivery_state: DeliveryState = DeliveryState.PENDING
    connector: str | None = None
    external_id: str | None = None
    due_at: datetime | None = None
    dispatched_at: datetime | None = None
    signed_at: datetime | None = None
    fed_back_at: datetime | None = None
    feedback: str | None = None
    return_count: int = 0
    dispatch_key: str | None = None
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None


class SlaDeadlines(Canonical):
    response_due: datetime | None = None
    sign_due: datetime | None = None
    resolve_due: datetime | None = None
    warn_at: datetime | None = None
    extended_until: datetime | None = None
    extension_count: int = 0
    responded_at: datetime | None = None
    # When the current handling round's resolve clock started: receipt, a restart on
    # reassignment, or a reopening (hub.workflow.sla).
    clock_started_at: datetime | None = None


class Reply(Canonical):
    content: str
    replied_at: datetime
    replied_by: str
    channel: Channel | None = None


class Revisit(Canonical):
    visited_at: datetime
    visited_by: str
    satisfaction: Satisfaction
    comment: str | None = None
    method: str | None = None


class Event(Canonical):
    """One line of the timeline (public) and the audit trail (all)."""

    seq: int
    at: datetime
    actor: str
    action: EventAction
    state_before: WorkOrderState | None = None
    state_after: WorkOrderState | None = None
    public: bool = True
    note: str | None = None
    unit_code: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended; the store gives it its sequence number and time."""

    action: EventAction
    actor: str
    state_before: WorkOrderState | None
    state_after: WorkOrderState | None
    public: bool = True
    note: str | None = None
    unit_code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class WorkOrder(Canonical):
    wo_no: str
    status: WorkOrderState
    origin: Origin
    appeal_type: AppealType
    category_code: str | None = None
    section_code: str | None = None
    title: str
    content: str
    urgency: Urgency = Urgency.NORMAL
    location: Location | None = None
    requester: Requester
    matter_code: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    occurred_at: datetime | None = None
    assignments: list[Assignment] = Field(default_factory=list)
    sla: SlaDeadlines = Field(default_factory=SlaDeadlines)
    reply: Reply | None = None
    revisit: Revisit | None = None
    parent_wo_no: str | None = None
    children: list[str] = Field(default_factory=list)
    duplicate_of: str | None = None
    merged: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    version: int = 1
    triage_queue: str | None = None
    supervision: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status.is_open
