"""Code lists (labels, Open311 status) and the matter/case records of the canonical model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from hub.model.codes import (
    ALL_CODE_LISTS,
    CLOSED_STATES,
    MatterType,
    Satisfaction,
    WorkOrderState,
)
from hub.model.service_matter import Case, ServiceMatter
from hub.model.work_order import Location, Requester, WorkOrderSubmission

OPEN311 = {  # DOMAIN.md §6, column by column
    "received": "open", "answered_directly": "closed", "triaged": "open",
    "dispatched": "open", "signed": "open", "in_progress": "open", "extended": "open",
    "returned": "open", "resolved": "closed", "replied": "closed", "revisited": "closed",
    "reopened": "open", "archived": "closed", "out_of_scope": "closed",
    "transferred_emergency": "closed", "duplicate": "closed", "cancelled": "closed",
}  # fmt: skip


def test_every_state_maps_to_open311_as_domain_says() -> None:
    assert {s.value: s.open311_status for s in WorkOrderState} == OPEN311
    assert {s for s in WorkOrderState if not s.is_open} == CLOSED_STATES


@pytest.mark.parametrize("name", sorted(ALL_CODE_LISTS))
def test_every_code_has_a_chinese_label(name: str) -> None:
    for member in ALL_CODE_LISTS[name]:
        assert member.label and any("\u4e00" <= ch <= "\u9fff" for ch in member.label), member


def test_gbt_39046_codes_keep_their_numbers() -> None:
    assert MatterType("01").label == "行政许可"
    assert MatterType("20").label == "公共服务"
    assert Satisfaction("4").is_bad_review and Satisfaction("5").is_bad_review
    assert not Satisfaction("3").is_bad_review


def matter(**overrides: object) -> ServiceMatter:
    data: dict[str, object] = {
        "basic_code": "000103001",
        "implementation_code": "11130100MB0000001X400011",
        "name": "食品经营许可",
        "matter_type": "01",
        "use_level": "4",
        "unit_name": "经开区行政审批局",
        "legal_limit": {"value": 20},
        "promised_limit": {"value": 10},
        "visits_required": 1,
    }
    data.update(overrides)
    return ServiceMatter.model_validate(data)


def test_service_matter_at_most_one_visit() -> None:
    assert matter().at_most_one_visit
    assert not matter(visits_required=2).at_most_one_visit
    with pytest.raises(ValidationError):
        matter(implementation_code="X" * 25)  # GB/T 39046: at most 24 characters
    with pytest.raises(ValidationError):
        matter(matter_type="99")


def test_case_validates_the_applicant() -> None:
    applied = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    case = Case.model_validate(
        {
            "case_no": "HB2026110200001",
            "implementation_code": "11130100MB0000001X400011",
            "applicant": {"name": "某某食品有限公司", "credit_code": "91350100M000100Y43"},
            "applied_at": applied,
            "visits": 1,
        }
    )
    assert case.applicant.credit_code == "91350100M000100Y43"
    with pytest.raises(ValidationError):
        Case.model_validate(
            {**case.model_dump(), "applicant": {"name": "x", "id_number": "130102199003071234"}}
        )


def test_submission_refuses_unknown_fields_and_hides_input_in_errors() -> None:
    body = {
        "channel": "app",
        "appeal_type": "help",
        "title": "t",
        "content": "c",
        "requester": {"phone": "1381234123"},
        "colour": "red",
    }
    with pytest.raises(ValidationError) as caught:
        WorkOrderSubmission.model_validate(body)
    fields = {".".join(map(str, e["loc"])) for e in caught.value.errors()}
    assert {"colour", "requester.phone"} <= fields
    assert "1381234123" not in str(caught.value)


@pytest.mark.parametrize("model", [WorkOrderSubmission, Location, Requester])
def test_defaults_left_unvalidated_are_already_valid(model: type[BaseModel]) -> None:
    """These models skip validating their defaults (speed): each must validate to itself."""
    assert model.model_config.get("validate_default") is False
    for name, info in model.model_fields.items():
        if info.is_required():
            continue
        default = info.get_default(call_default_factory=True)
        annotation = (
            Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        )
        checked = TypeAdapter(annotation).validate_python(default)
        assert checked == default and type(checked) is type(default), name
