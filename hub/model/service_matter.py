"""ServiceMatter (政务服务事项) and Case (办件), after GB/T 39046-2020."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from hub.model.base import Canonical
from hub.model.codes import (
    BodyNature,
    CaseType,
    Channel,
    EvaluationChannel,
    HandlingForm,
    MatterStatus,
    MatterType,
    Satisfaction,
    ServiceObject,
    StepAction,
    TimeLimitUnit,
    UseLevel,
)
from hub.model.validators import CreditCode, MobileNumber, RegionCode, ResidentId

BasicCode = Annotated[str, StringConstraints(min_length=1, max_length=10)]
ImplementationCode = Annotated[str, StringConstraints(min_length=1, max_length=24)]


class TimeLimit(Canonical):
    value: int = Field(ge=0)
    unit: TimeLimitUnit = TimeLimitUnit.WORKING_DAY
    note: str | None = None


class Material(Canonical):
    name: str
    issuer: str | None = None
    original_count: int = 0
    copy_count: int = 0
    required: bool = True


class ServiceMatter(Canonical):
    basic_code: BasicCode
    implementation_code: ImplementationCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    matter_type: MatterType
    use_level: UseLevel
    unit_code: str | None = None
    unit_name: str
    unit_credit_code: CreditCode | None = None
    body_nature: BodyNature | None = None
    legal_limit: TimeLimit | None = None
    promised_limit: TimeLimit | None = None
    visits_required: int = Field(default=0, ge=0)
    online: bool = False
    online_url: str | None = None
    handling_forms: list[HandlingForm] = Field(default_factory=list)
    service_objects: list[ServiceObject] = Field(default_factory=list)
    acceptance_conditions: str | None = None
    process: str | None = None
    co_units: list[str] = Field(default_factory=list)
    materials: list[Material] = Field(default_factory=list)
    fees: str | None = None
    place: str | None = None
    hours: str | None = None
    consult_phone: str | None = None
    supervise_phone: str | None = None
    keywords: list[str] = Field(default_factory=list)
    region_code: RegionCode | None = None
    version: str = "1"
    valid_from: date | None = None
    valid_to: date | None = None
    status: MatterStatus = MatterStatus.ACTIVE
    changed_at: datetime | None = None

    @property
    def at_most_one_visit(self) -> bool:
        """最多跑一次: the matter needs no more than one on-site visit."""
        return self.visits_required <= 1


class Applicant(Canonical):
    name: str
    id_type: str = "resident_id"
    id_number: ResidentId | None = None
    credit_code: CreditCode | None = None
    phone: MobileNumber | None = None


class CaseStep(Canonical):
    action: StepAction
    name: str
    handler: str | None = None
    opinion: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    special_procedure: str | None = None


class Evaluation(Canonical):
    channel: EvaluationChannel
    satisfaction: Satisfaction
    text: str | None = None
    evaluated_at: datetime | None = None


class Case(Canonical):
    case_no: str
    implementation_code: ImplementationCode
    applicant: Applicant
    channel: Channel = Channel.HEBEI_NETWORK
    case_type: CaseType = CaseType.PROMISED
    applied_at: datetime
    accepted_at: datetime | None = None
    accept_unit: str | None = None
    acceptor: str | None = None
    promised_at: datetime | None = None
    steps: list[CaseStep] = Field(default_factory=list)
    finished_at: datetime | None = None
    result: str | None = None
    certificate: str | None = None
    visits: int = Field(default=0, ge=0)
    evaluation: Evaluation | None = None
