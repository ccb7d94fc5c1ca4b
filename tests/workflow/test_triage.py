"""Triage (分单) with the shipped policies and reference data, on real Chinese requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config import REPO_ROOT
from hub.model.codes import AssignmentRole, OrgTier, WorkOrderState
from hub.model.work_order import WorkOrder, WorkOrderSubmission
from hub.reference import ReferenceData, load_reference
from hub.services.catalogue import Catalogue
from hub.workflow.dispatch_policy import DispatchPolicy, load_dispatch_policy
from hub.workflow.triage import (
    Dispatch,
    Emergency,
    Manual,
    OutOfScope,
    Split,
    TriageOutcome,
    _clause_hits,
    _keyword_index,
    delivery_unit,
    outcome_data,
    triage,
)
from hub.yamlconf import ConfigError

POLICIES = REPO_ROOT / "policies"
DISPATCH_YAML = POLICIES / "dispatch.yaml"

# 前进村 (JKQ-T01-V01) east end, and a point in 永安社区's corner inside 前进村's bounding box
QIANJIN_EAST = (38.052, 114.638)
YONGAN_NOTCH = (38.063, 114.628)


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference(POLICIES)


@pytest.fixture(scope="module")
def catalogue(reference: ReferenceData) -> Catalogue:
    return Catalogue(
        {u.code: u for u in reference.units},
        {s.code: s for s in reference.sections},
        {c.code: c for c in reference.categories},
        {h.number: h for h in reference.hotlines.merged},
    )


@pytest.fixture(scope="module")
def policy(reference: ReferenceData) -> DispatchPolicy:
    return load_dispatch_policy(DISPATCH_YAML, reference)


def request(
    title: str,
    content: str,
    *,
    category: str | None = None,
    region: str | None = None,
    at: tuple[float, float] | None = None,
    hotline: str | None = None,
    appeal: str = "complaint",
) -> WorkOrderSubmission:
    location: dict[str, Any] = {}
    if region:
        location["region_code"] = region
    if at:
        location["latitude"], location["longitude"] = at
    return WorkOrderSubmission.model_validate(
        {
            "channel": "hotline" if hotline else "app",
            "source_hotline": hotline,
            "appeal_type": appeal,
            "category_code": category,
            "title": title,
            "content": content,
            "location": location or None,
            "requester": {"anonymous": True},
        }
    )


def units_of(outcome: TriageOutcome) -> list[tuple[str, str, str]]:
    assert isinstance(outcome, Dispatch), outcome
    return [(a.unit_code, a.role.value, a.category_code) for a in outcome.assignments]


# --- scenario 2: one complaint, two departments -----------------------------------------

NOISE_AND_MUCK = (
    "夜间施工噪音扰民，渣土车撒漏",
    "永安路与兴业街交叉口的工地每天夜里十一点以后还在施工，机器轰鸣，吵得睡不着。"
    "另外，工地出来的渣土车沿路撒漏泥土，路面很脏，下雨全是泥。",
)


@pytest.mark.parametrize("category", [None, "ENV-NOISE"])
def test_scenario_2_noise_leads_and_muck_spill_is_co_handled(
    catalogue: Catalogue, policy: DispatchPolicy, category: str | None
) -> None:
    outcome = triage(request(*NOISE_AND_MUCK, category=category), catalogue, policy)
    assert outcome.kind == "dispatch"
    assert units_of(outcome) == [
        ("JKQ-HBJ", "lead", "ENV-NOISE"),
        ("JKQ-CGJ", "co", "URB-MUCK-SPILL"),
    ]
    assert isinstance(outcome, Dispatch)
    assert outcome.category_code == "ENV-NOISE"
    assert outcome.lead.role is AssignmentRole.LEAD
    # each goes through its own OA connector (Weaver SOAP, Seeyon REST)
    assert [a.delivery_unit for a in outcome.assignments] == ["JKQ-HBJ", "JKQ-CGJ"]
    noise, muck = outcome.matters
    assert "机器轰鸣" in noise.text and "渣土车" not in noise.text
    assert muck.text.startswith("另外，工地出来的渣土车沿路撒漏泥土")
    assert "噪音扰民" in noise.keywords and "渣土车" in muck.keywords
    assert "渣土" not in muck.keywords  # inside the longer 渣土车: counted once


def test_explicit_category_decides_the_lead(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(request(*NOISE_AND_MUCK, category="URB-MUCK-SPILL"), catalogue, policy)
    assert units_of(outcome) == [
        ("JKQ-CGJ", "lead", "URB-MUCK-SPILL"),
        ("JKQ-HBJ", "co", "ENV-NOISE"),
    ]
    assert "URB-MUCK-SPILL chosen" in outcome.lead.reason  # type: ignore[union-attr]


def test_explicit_category_without_matching_words_still_leads(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(
        request("反映问题", "楼下饭馆油烟很大，还有异味", category="FOOD-SAFETY"), catalogue, policy
    )
    assert units_of(outcome) == [
        ("JKQ-SJJ", "lead", "FOOD-SAFETY"),
        ("JKQ-HBJ", "co", "ENV-POLLUTION"),
    ]


# --- scenario 3: down to the village ------------------------------------------------------

LAMPS = (
    "村东头路灯不亮",
    "我们村东头有三盏路灯坏了，晚上一片漆黑，老人孩子出行不安全，希望尽快修好。",
)


def test_scenario_3_region_code_lands_in_the_village(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request(*LAMPS, region="130199001001", appeal="help"), catalogue, policy)
    assert units_of(outcome) == [("JKQ-T01-V01", "lead", "LAMP-VILLAGE")]
    assert isinstance(outcome, Dispatch)
    assert "130199001001" in outcome.lead.reason
    # neither the village nor its town has an OA system: the hub inbox carries it
    assert outcome.lead.delivery_unit == "JKQ-T01-V01"
    assert outcome.matters[0].text.startswith("我们村东头有三盏路灯坏了")


def test_scenario_3_coordinates_without_region_code_use_the_village_outline(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request(*LAMPS, at=QIANJIN_EAST), catalogue, policy)
    assert units_of(outcome) == [("JKQ-T01-V01", "lead", "LAMP-VILLAGE")]
    assert "前进村范围内" in outcome.lead.reason  # type: ignore[union-attr]


def test_polygon_not_bounding_box_decides(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    """The point lies inside 前进村's bounding box but north of its diagonal edge."""
    outcome = triage(request(*LAMPS, at=YONGAN_NOTCH), catalogue, policy)
    assert units_of(outcome) == [("JKQ-T01-V02", "lead", "LAMP-VILLAGE")]


def test_region_code_wins_over_coordinates(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(request(*LAMPS, region="130199004002", at=QIANJIN_EAST), catalogue, policy)
    assert units_of(outcome) == [("JKQ-T04-V02", "lead", "LAMP-VILLAGE")]


def test_town_code_only_falls_back_to_the_outline(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request(*LAMPS, region="130199001", at=QIANJIN_EAST), catalogue, policy)
    assert units_of(outcome) == [("JKQ-T01-V01", "lead", "LAMP-VILLAGE")]


@pytest.mark.parametrize(
    "region",
    [None, "130199001", "130199", "130299001001"],
    ids=["none", "town-only", "district-only", "outside-district"],
)
def test_village_matter_without_a_village_goes_to_manual(
    catalogue: Catalogue, policy: DispatchPolicy, region: str | None
) -> None:
    outcome = triage(request(*LAMPS, region=region), catalogue, policy)
    assert isinstance(outcome, Manual)
    assert "村（社区）层级事项" in outcome.reason
    assert outcome.matters[0].category_code == "LAMP-VILLAGE"  # staff see what was found


def test_coordinates_outside_every_outline_go_to_manual(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    assert triage(request(*LAMPS, at=(39.9, 116.4)), catalogue, policy).kind == "manual"


def test_sample_lead_fallback_only_when_the_policy_says_so(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    lenient = policy.model_copy(
        update={"region": policy.region.model_copy(update={"fallback_to_sample_lead": True})}
    )
    outcome = triage(request(*LAMPS), catalogue, lenient)
    assert units_of(outcome) == [("JKQ-T01-V01", "lead", "LAMP-VILLAGE")]
    assert "示例默认单位" in outcome.lead.reason  # type: ignore[union-attr]


def test_town_tier_matter_goes_to_the_town_of_the_village(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(
        request("路灯不亮", "兴华大街靠近加油站的路灯不亮好几天了", region="130199004002"),
        catalogue,
        policy,
    )
    # 路灯/不亮 are shared by both lamp categories: a tie goes to the lower code
    assert units_of(outcome) == [("JKQ-T04", "lead", "LAMP-TOWN-ROAD")]


def test_town_tier_matter_by_coordinates(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(
        request("背街小巷路灯不亮", "小巷里黑灯好几天", category="LAMP-TOWN-ROAD", at=QIANJIN_EAST),
        catalogue,
        policy,
    )
    assert units_of(outcome) == [("JKQ-T01", "lead", "LAMP-TOWN-ROAD")]


# --- a department duty is never pushed down ----------------------------------------------


def test_department_duty_stays_with_the_department_even_inside_a_village(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(
        request(
            "工厂夜间噪音扰民",
            "前进村东头的工厂晚上机器轰鸣，噪音扰民",
            region="130199001001",
            at=QIANJIN_EAST,
        ),
        catalogue,
        policy,
    )
    assert units_of(outcome) == [("JKQ-HBJ", "lead", "ENV-NOISE")]


def test_every_department_category_stays_at_department_level(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    units = catalogue.units
    checked = 0
    for code, category in sorted(catalogue.categories.items()):
        if category.tier != OrgTier.DEPARTMENT or code in policy.catch_all_categories:
            continue
        outcome = triage(
            request(
                category.name,
                "、".join(category.keywords) or category.name,
                category=code,
                region="130199001001",
            ),
            catalogue,
            policy,
        )
        assert isinstance(outcome, Dispatch), (code, outcome)
        for assignment in outcome.assignments:
            assert units[assignment.unit_code].tier in (
                OrgTier.DEPARTMENT,
                OrgTier.PUBLIC_SERVICE,
            ), (code, assignment)
        checked += 1
    assert checked >= 20


def test_department_category_pointing_at_a_village_goes_to_manual(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    """A catalogue mistake must not push a department duty down: manual, never the village."""
    noise = catalogue.categories["ENV-NOISE"].model_copy(update={"lead_unit": "JKQ-T01-V01"})
    broken = Catalogue(
        catalogue.units, catalogue.sections, {**catalogue.categories, "ENV-NOISE": noise}
    )
    outcome = triage(
        request("噪音扰民", "村里工厂夜间噪音扰民", category="ENV-NOISE", region="130199001001"),
        broken,
        policy,
    )
    assert isinstance(outcome, Manual)
    assert "部门职责不得下沉" in outcome.reason


def test_department_category_co_unit_below_department_is_skipped(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    build = catalogue.categories["URB-ILLEGAL-BUILD"].model_copy(
        update={"co_units": ["JKQ-T01", "JKQ-ZGJ"]}
    )
    changed = Catalogue(
        catalogue.units, catalogue.sections, {**catalogue.categories, "URB-ILLEGAL-BUILD": build}
    )
    outcome = triage(
        request("违章建筑", "邻居在院子里私搭乱建", category="URB-ILLEGAL-BUILD"), changed, policy
    )
    assert units_of(outcome) == [
        ("JKQ-CGJ", "lead", "URB-ILLEGAL-BUILD"),
        ("JKQ-ZGJ", "co", "URB-ILLEGAL-BUILD"),
    ]
    assert isinstance(outcome, Dispatch)
    assert any("部门职责不得下沉" in note for note in outcome.notes)


# --- co-handlers from the catalogue; no unit twice ---------------------------------------


def test_category_co_units_become_co_handlers(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(
        request("讨薪", "工地包工头拖欠我们十几个农民工的工资，已经半年不发工资了"),
        catalogue,
        policy,
    )
    assert units_of(outcome) == [
        ("JKQ-RSJ", "lead", "WAGE-ARREARS"),
        ("JKQ-ZJJ", "co", "WAGE-ARREARS"),
    ]
    assert "catalogue co-handler" in outcome.assignments[1].reason  # type: ignore[union-attr]


def test_no_unit_is_assigned_twice(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    # LAND-RESOURCE: 自规局 + 城管局; URB-ILLEGAL-BUILD: 城管局 + 自规局
    outcome = triage(
        request(
            "违法占用耕地",
            "村北有人违法占用耕地挖土。另外，还在地里私搭乱建了两排违章建筑。",
        ),
        catalogue,
        policy,
    )
    assert units_of(outcome) == [
        ("JKQ-ZGJ", "lead", "LAND-RESOURCE"),
        ("JKQ-CGJ", "co", "LAND-RESOURCE"),
    ]
    assert isinstance(outcome, Dispatch)
    assert [m.category_code for m in outcome.matters] == ["LAND-RESOURCE", "URB-ILLEGAL-BUILD"]


def test_alternative_categories_sharing_words_are_not_co_handlers(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    """镇街路灯 chosen; 村内路灯 shares 路灯/不亮 and has only 村东头 (3) of its own."""
    outcome = triage(
        request("路灯不亮", "村东头路灯不亮", category="LAMP-TOWN-ROAD", region="130199001001"),
        catalogue,
        policy,
    )
    assert units_of(outcome) == [("JKQ-T01", "lead", "LAMP-TOWN-ROAD")]


def test_one_lamp_story_is_one_matter(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(
        request("路灯坏了", "村东头的路灯灯坏了，另外三盏路灯也不亮", region="130199001001"),
        catalogue,
        policy,
    )
    assert units_of(outcome) == [("JKQ-T01-V01", "lead", "LAMP-VILLAGE")]


def test_a_passing_generic_word_does_not_add_a_co_handler(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(
        request("半夜停电", "半夜停电了，希望尽快恢复供电", region="130199002001"),
        catalogue,
        policy,
    )
    assert units_of(outcome) == [("JKQ-GDFWZX", "lead", "UTIL-POWER")]


# --- split --------------------------------------------------------------------------------

NOISE_AND_LAMPS = (
    "工地噪音和村里路灯",
    "村口工地夜间施工噪音扰民，机器轰鸣到凌晨。另外，村东头三盏路灯不亮，晚上出行不便。",
)


def test_department_and_village_matters_split_into_children(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request(*NOISE_AND_LAMPS, region="130199001001"), catalogue, policy)
    assert isinstance(outcome, Split)
    first, second = outcome.children
    assert (first.category_code, second.category_code) == ("ENV-NOISE", "LAMP-VILLAGE")
    assert [(a.unit_code, a.role.value) for a in first.assignments] == [("JKQ-HBJ", "lead")]
    assert [(a.unit_code, a.role.value) for a in second.assignments] == [("JKQ-T01-V01", "lead")]
    assert first.text == "村口工地夜间施工噪音扰民，机器轰鸣到凌晨"
    assert second.text == "另外，村东头三盏路灯不亮，晚上出行不便"


def test_split_child_keeps_same_tier_matters_together(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(
        request(
            "工地噪音扰民",
            "工地夜间施工噪音扰民，机器轰鸣到凌晨。渣土车沿路撒漏泥土。村东头三盏路灯不亮。",
            region="130199001001",
        ),
        catalogue,
        policy,
    )
    assert isinstance(outcome, Split)
    department, village = outcome.children
    assert department.categories == ("ENV-NOISE", "URB-MUCK-SPILL")
    assert [(a.unit_code, a.role.value) for a in department.assignments] == [
        ("JKQ-HBJ", "lead"),
        ("JKQ-CGJ", "co"),
    ]
    assert department.text == "工地夜间施工噪音扰民，机器轰鸣到凌晨，渣土车沿路撒漏泥土"
    assert village.text == "村东头三盏路灯不亮"
    assert village.categories == ("LAMP-VILLAGE",)


def test_without_split_the_village_is_a_co_handler(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    single = policy.model_copy(update={"split": policy.split.model_copy(update={"enabled": False})})
    outcome = triage(request(*NOISE_AND_LAMPS, region="130199001001"), catalogue, single)
    assert units_of(outcome) == [
        ("JKQ-HBJ", "lead", "ENV-NOISE"),
        ("JKQ-T01-V01", "co", "LAMP-VILLAGE"),
    ]


def test_split_with_an_unlocated_village_matter_goes_to_manual(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request(*NOISE_AND_LAMPS), catalogue, policy)
    assert isinstance(outcome, Manual)
    assert [m.category_code for m in outcome.matters] == ["ENV-NOISE", "LAMP-VILLAGE"]


# --- emergencies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "content", "hotline", "rule"),
    [
        ("厨房着火了", "邻居家厨房着火了，楼道里全是烟", "119", "fire"),
        ("闻到煤气味", "楼道里煤气泄漏，味道很大，请赶快派人", "119", "fire"),
        ("车祸", "兴华大街路口刚刚发生车祸，有人受伤倒在地上", "122", "traffic_accident"),
        ("交通事故", "两车相撞的交通事故，司机被困在车里", "122", "traffic_accident"),
        ("有人持刀", "超市门口有人持刀抢劫", "110", "public_security"),
        ("打架", "广场上十几个人在打架，已经有人头破血流", "110", "public_security"),
        ("老人昏迷", "家里老人突然昏迷不醒", "120", "medical"),
        ("呼吸困难", "孩子呼吸困难，嘴唇发紫", "120", "medical"),
        ("出血", "工人被机器割伤大出血", "120", "medical"),
    ],
)
def test_emergency_is_transferred_to_its_hotline(
    catalogue: Catalogue,
    policy: DispatchPolicy,
    title: str,
    content: str,
    hotline: str,
    rule: str,
) -> None:
    outcome = triage(request(title, content), catalogue, policy)
    assert isinstance(outcome, Emergency)
    assert (outcome.hotline, outcome.rule) == (hotline, rule)
    assert hotline in outcome.notice and hotline in outcome.reason


def test_emergency_is_checked_before_everything(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(
        request(
            "物业纠纷", "我已经起诉物业公司了，现在小区配电房着火了", category="PROPERTY-DISPUTE"
        ),
        catalogue,
        policy,
    )
    assert isinstance(outcome, Emergency) and outcome.hotline == "119"


def test_emergency_lists_the_other_hotlines_that_matched(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request("车祸", "路口发生车祸，一人受伤昏迷，车还着火了"), catalogue, policy)
    assert isinstance(outcome, Emergency)
    assert (outcome.hotline, outcome.also_hotlines) == ("119", ("122", "120"))


@pytest.mark.parametrize(
    ("title", "content", "category"),
    [
        ("消防通道被堵", "厂区消防通道被堵，存在火灾隐患", "SAFETY-HAZARD"),
        ("楼上打架子鼓", "楼上每天晚上打架子鼓，噪音扰民", "ENV-NOISE"),
        ("公交车", "上个月坐公交车遇到交通事故，想咨询保险理赔", "TRAFFIC"),
    ],
    ids=["fire-hazard", "drum-kit", "accident-without-injury"],
)
def test_words_that_only_look_like_an_emergency(
    catalogue: Catalogue, policy: DispatchPolicy, title: str, content: str, category: str
) -> None:
    outcome = triage(request(title, content), catalogue, policy)
    assert isinstance(outcome, Dispatch), outcome
    assert outcome.category_code == category


# --- out of scope ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "rule", "route_word"),
    [
        ("开发商延期交房，我已经起诉到法院了，法院已立案", "litigation", "12368"),
        ("公司拖欠工资三个月，我已经申请劳动仲裁，仲裁委已受理", "arbitration", "仲裁委员会"),
        ("对管委会作出的罚款决定不服，要申请行政复议", "administrative_review", "复议机关"),
        ("我的信访件到现在没有答复，还要去上访", "petition", "信访工作条例"),
        ("我要申请政府信息公开，公开征收补偿方案", "disclosure_request", "政府信息公开条例"),
        ("我这里有涉密材料要反映", "secret", "保密"),
        ("就是想骚扰热线，你们管不着", "malicious", "如实记录"),
    ],
)
def test_out_of_scope_tells_the_route(
    catalogue: Catalogue, policy: DispatchPolicy, content: str, rule: str, route_word: str
) -> None:
    outcome = triage(request("反映问题", content), catalogue, policy)
    assert isinstance(outcome, OutOfScope)
    assert outcome.rule == rule
    assert route_word in outcome.route
    assert "(" in outcome.route  # English in parentheses for the record


def test_staff_mark_fires_a_rule_no_keyword_reveals(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    order = request("噪音", "夜间施工噪音扰民")
    assert triage(order, catalogue, policy).kind == "dispatch"
    outcome = triage(order, catalogue, policy, mark="malicious")
    assert isinstance(outcome, OutOfScope) and outcome.rule == "malicious"
    with pytest.raises(ValueError, match="unknown triage rule"):
        triage(order, catalogue, policy, mark="no_such_rule")


@pytest.mark.parametrize(
    ("content", "category"),
    [
        ("想打官司，咨询一下怎么申请法律援助", "LEGAL-SERVICE"),
        ("公司拖欠工资三个月不发，想了解怎么申请劳动仲裁", "WAGE-ARREARS"),
        ("竞争对手窃取我们企业的商业秘密，还在销售假货", "CONSUMER-COMPLAINT"),
    ],
)
def test_asking_about_a_route_is_still_a_request(
    catalogue: Catalogue, policy: DispatchPolicy, content: str, category: str
) -> None:
    outcome = triage(request("咨询", content, appeal="consultation"), catalogue, policy)
    assert isinstance(outcome, Dispatch), outcome
    assert outcome.category_code == category


# --- manual queue and hotline defaults ------------------------------------------------------


def test_nothing_recognised_goes_to_manual(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(request("你好", "我想反映个情况，麻烦回个电话"), catalogue, policy)
    assert isinstance(outcome, Manual)
    assert "manual triage" in outcome.reason and outcome.matters == ()


def test_unknown_category_goes_to_manual(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(request("噪音", "夜间施工噪音扰民", category="NO-SUCH"), catalogue, policy)
    assert isinstance(outcome, Manual) and "NO-SUCH" in outcome.reason


def test_12345_catch_all_is_detected_from_the_text(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request(*NOISE_AND_MUCK, category="OTHER", hotline="12345"), catalogue, policy)
    assert units_of(outcome)[0] == ("JKQ-HBJ", "lead", "ENV-NOISE")
    vague = triage(request("反映", "有事想说", hotline="12345"), catalogue, policy)
    assert isinstance(vague, Manual)  # the response centre is the manual queue


def test_hotline_default_unit_when_nothing_is_detected(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request("求助", "单位不让我休产假", hotline="12338"), catalogue, policy)
    assert units_of(outcome) == [("JKQ-QTGZB", "lead", "OTHER")]
    assert "12338" in outcome.lead.reason  # type: ignore[union-attr]
    strict = policy.model_copy(update={"use_hotline_default_unit": False})
    assert triage(request("求助", "单位不让我休产假", hotline="12338"), catalogue, strict).kind == (
        "manual"
    )


def test_hotline_default_category_applies_to_a_submission(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    outcome = triage(request("投诉", "商家卖的东西有问题", hotline="12315"), catalogue, policy)
    assert units_of(outcome) == [("JKQ-SJJ", "lead", "CONSUMER-COMPLAINT")]


def test_a_stored_work_order_is_triaged_the_same_way(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    now = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    order = WorkOrder.model_validate(
        {
            "wo_no": "JK202503030001",
            "status": WorkOrderState.RECEIVED,
            "origin": {"channel": "hotline", "source_hotline": "12345"},
            "appeal_type": "help",
            "category_code": "OTHER",
            "title": LAMPS[0],
            "content": LAMPS[1],
            "location": {"region_code": "130199001001"},
            "requester": {"anonymous": True},
            "created_at": now,
            "updated_at": now,
        }
    )
    outcome = triage(order, catalogue, policy)
    assert units_of(outcome) == [("JKQ-T01-V01", "lead", "LAMP-VILLAGE")]


# --- determinism and output -----------------------------------------------------------------


def test_results_do_not_depend_on_catalogue_order(
    catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    reversed_catalogue = Catalogue(
        dict(reversed(list(catalogue.units.items()))),
        catalogue.sections,
        dict(reversed(list(catalogue.categories.items()))),
        catalogue.hotlines,
    )
    for title, content in (NOISE_AND_MUCK, LAMPS, NOISE_AND_LAMPS, ("路灯不亮", "路灯不亮")):
        order = request(title, content, region="130199001001")
        first = triage(order, catalogue, policy)
        assert triage(order, catalogue, policy) == first
        assert triage(order, reversed_catalogue, policy) == first


def test_full_width_and_case_do_not_matter(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    half = triage(request("噪音", "夜间施工噪音扰民,渣土车撒漏泥土!"), catalogue, policy)
    full = triage(request("噪音", "夜间施工噪音扰民，渣土车撒漏泥土！"), catalogue, policy)
    assert units_of(half) == units_of(full)


def test_outcome_data_is_json(catalogue: Catalogue, policy: DispatchPolicy) -> None:
    outcome = triage(request(*NOISE_AND_LAMPS, region="130199001001"), catalogue, policy)
    data = json.loads(json.dumps(outcome_data(outcome), ensure_ascii=False))
    assert data["kind"] == "split"
    assert data["children"][0]["assignments"][0]["role"] == "lead"


def test_delivery_unit_walks_up_to_a_connector(catalogue: Catalogue) -> None:
    units = dict(catalogue.units)
    assert delivery_unit(units["JKQ-HBJ"], units) == "JKQ-HBJ"
    assert delivery_unit(units["JKQ-T01-V01"], units) == "JKQ-T01-V01"  # hub inbox
    town = units["JKQ-T01"].model_copy(update={"connector": "town_oa"})
    units["JKQ-T01"] = town
    assert delivery_unit(units["JKQ-T01-V01"], units) == "JKQ-T01"
    district = units["JKQ"].model_copy(update={"connector": "district_oa"})
    units["JKQ"] = district
    assert delivery_unit(units["JKQ-ZGJ"], units) == "JKQ-ZGJ"  # never the district itself


# --- the policy file ------------------------------------------------------------------------


def test_shipped_policy_loads_and_outlines_match_their_villages(
    policy: DispatchPolicy, catalogue: Catalogue
) -> None:
    villages = {
        rc
        for u in catalogue.units.values()
        if u.tier == OrgTier.VILLAGE_COMMUNITY
        for rc in u.region_codes
    }
    assert {a.region_code for a in policy.areas} == villages
    assert {r.hotline for r in policy.emergency} == {"110", "119", "120", "122"}
    assert {r.code for r in policy.out_of_scope} >= {
        "litigation",
        "arbitration",
        "administrative_review",
        "petition",
        "disclosure_request",
        "secret",
        "malicious",
    }


BROKEN = [
    # (what, old text, new text, field, text on the expected line, words in the message)
    (
        "hotline not three digits",
        'hotline: "119"',
        'hotline: "1190"',
        "emergency[0].hotline",
        '"1190"',
        "pattern",
    ),
    (
        "hotline not an emergency transfer",
        'hotline: "110"',
        'hotline: "112"',
        "emergency[2].hotline",
        '"112"',
        "emergency_transfer",
    ),
    (
        "unknown category in hints",
        "  URB-GARBAGE: [",
        "  URB-RUBBISH: [",
        "keyword_hints.URB-RUBBISH",
        "URB-RUBBISH",
        "unknown category",
    ),
    (
        "threshold above one",
        "  threshold: 0.2",
        "  threshold: 1.5",
        "duplicates.threshold",
        "threshold: 1.5",
        "less than or equal to 1",
    ),
    (
        "latitude out of range",
        "ring: [[114.640, 38.020], [114.660, 38.020]",
        "ring: [[114.640, 38.020], [114.660, 98.020]",
        "areas[8].ring[1][1]",
        "98.020",
        "less than or equal to 90",
    ),
    (
        "ring with two points",
        "ring: [[114.600, 38.040], [114.613, 38.040], [114.613, 38.080], [114.600, 38.080]]",
        "ring: [[114.600, 38.040], [114.613, 38.040]]",
        "areas[2].ring",
        "ring: [[114.600, 38.040], [114.613, 38.040]]",
        "3 distinct",
    ),
    (
        "area nobody serves",
        'region_code: "130199004003"',
        'region_code: "130199004009"',
        "areas[10].region_code",
        "130199004009",
        "no org unit serves",
    ),
    (
        "duplicate rule code",
        "  - code: petition",
        "  - code: litigation",
        "out_of_scope[4].code",
        "code: litigation",
        "duplicate rule code",
    ),
    (
        "misspelt key",
        "  window_hours: 72",
        "  window_hour: 72",
        "duplicates.window_hour",
        "window_hour:",
        "Extra inputs are not permitted",
    ),
    (
        "tier in two groups",
        "    - [town_street, village_community]",
        "    - [town_street, department]",
        "split.share_order[1][1]",
        "[town_street, department]",
        "one group only",
    ),
    (
        "unknown tier",
        "    - [town_street, village_community]",
        "    - [town_street, hamlet]",
        "split.share_order[1][1]",
        "[town_street, hamlet]",
        "Input should be",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "on_line", "words"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_config_errors_name_file_line_and_field(
    tmp_path: Path,
    reference: ReferenceData,
    old: str,
    new: str,
    field: str,
    on_line: str,
    words: str,
) -> None:
    text = DISPATCH_YAML.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    broken = text.replace(old, new)
    path = tmp_path / "dispatch.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_dispatch_policy(path, reference)
    error = caught.value
    assert error.path == str(path)
    assert error.field == field
    assert error.line == text[: text.index(old)].count("\n") + 1  # the line that was broken
    assert on_line in broken.splitlines()[error.line - 1]
    assert words in error.message
    assert f"{path}:{error.line}: {field}:" in str(error)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "dispatch.yaml"
    path.write_text("version: 1\nemergency:\n  - code: fire\n    name: [unclosed\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_dispatch_policy(path)
    assert caught.value.line is not None and caught.value.line >= 4
    assert "syntax error" in caught.value.message


def every_hit(
    text: str, index: dict[str, tuple[str, ...]], supporting: frozenset[str]
) -> dict[str, tuple[int, list[str]]]:
    """The keyword hits by their definition, the slow way: every occurrence of every
    keyword of every category, less those inside a longer matched keyword."""
    hits = []
    for code, words in index.items():
        for word in words:
            start = text.find(word)
            while start >= 0:
                hits.append((start, start + len(word), word, code))
                start = text.find(word, start + 1)
    spans = {(s, e) for s, e, _, _ in hits}
    found: dict[str, tuple[int, list[str]]] = {}
    for start, end, word, code in sorted(hits):
        if any(s <= start and end <= e and e - s > end - start for s, e in spans):
            continue
        first, words = found.get(code, (start, []))
        if word not in words:
            found[code] = (first, [*words, word])
    return {c: entry for c, entry in found.items() if any(w not in supporting for w in entry[1])}


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_one_pattern_finds_the_hits_every_keyword_would(
    data: st.DataObject, catalogue: Catalogue, policy: DispatchPolicy
) -> None:
    """Clauses made of shipped keywords, their pieces and filler: the single pattern finds
    exactly what searching for each keyword finds (overlaps and nested keywords too)."""
    index = _keyword_index(catalogue, policy)
    words = sorted({w for ws in index.values() for w in ws})
    piece = st.one_of(
        st.sampled_from(words),
        st.sampled_from(words).map(lambda w: w[: max(1, len(w) - 1)]),
        st.sampled_from(words).map(lambda w: w[1:]),
        st.text(alphabet="的了在路口村镇，街道", max_size=3),
    )
    text = "".join(data.draw(st.lists(piece, max_size=8)))
    supporting = frozenset(policy.scoring.supporting_keywords)
    assert _clause_hits(text, index, supporting) == every_hit(text, index, supporting)
