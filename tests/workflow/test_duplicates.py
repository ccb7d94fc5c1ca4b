"""Duplicate detection (并单) with the shipped dispatch policy, on real Chinese requests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.config import REPO_ROOT
from hub.model.codes import WorkOrderState
from hub.model.work_order import WorkOrder
from hub.workflow.dispatch_policy import DispatchPolicy, load_dispatch_policy
from hub.workflow.duplicates import (
    OrderSummary,
    find_duplicate,
    normalise_address,
    similarity,
    summary_of,
)
from hub.workflow.geo import distance_m, in_ring

NOW = datetime(2025, 3, 5, 21, 30, tzinfo=UTC)

NOISE_FIRST = (
    "永安路与兴业街交叉口工地夜间施工噪音扰民\n"
    "永安路与兴业街交叉口的工地每天夜里十一点以后还在施工，机器轰鸣，吵得睡不着。"
)
NOISE_AGAIN = (
    "工地半夜施工太吵\n"
    "兴业街和永安路交叉口那个工地，晚上十一点多了还在施工，机器声音很大，吵得人睡不着觉。"
)
SQUARE_DANCE = "广场舞噪音扰民\n小区广场每天晚上跳广场舞，音响声音太大，影响休息。"
LAMPS_EAST = "村东头路灯不亮\n我们村东头有三盏路灯坏了，晚上一片漆黑。"
LAMPS_EAST_AGAIN = "路灯坏了\n村东头那几盏路灯好几天都不亮了，晚上走路看不见。"
LAMPS_WEST = "村里路灯不亮\n村西头靠近小学的两盏路灯不亮了"


@pytest.fixture(scope="module")
def policy() -> DispatchPolicy:
    return load_dispatch_policy(REPO_ROOT / "policies" / "dispatch.yaml")


def summary(
    wo_no: str,
    text: str,
    *,
    hours_ago: float = 0,
    category: str | None = "ENV-NOISE",
    region: str | None = "130199001001",
    address: str | None = None,
    at: tuple[float, float] | None = None,
) -> OrderSummary:
    return OrderSummary(
        wo_no=wo_no,
        category_code=category,
        region_code=region,
        address=address,
        latitude=at[0] if at else None,
        longitude=at[1] if at else None,
        text=text,
        created_at=NOW - timedelta(hours=hours_ago),
    )


# --- similarity ---------------------------------------------------------------------------


def test_similarity_of_the_same_matter_told_twice_beats_other_matters() -> None:
    same_noise = similarity(NOISE_FIRST, NOISE_AGAIN)
    same_lamps = similarity(LAMPS_EAST, LAMPS_EAST_AGAIN)
    assert same_noise >= 0.2 and same_lamps >= 0.2
    assert similarity(NOISE_FIRST, SQUARE_DANCE) < 0.1
    assert similarity(LAMPS_EAST, LAMPS_WEST) < 0.2


def test_similarity_basics() -> None:
    assert similarity(NOISE_FIRST, NOISE_FIRST) == 1.0
    assert similarity("路灯不亮", "渣土撒漏") == 0.0
    assert similarity("", "") == 0.0
    assert similarity("噪", "噪") == 1.0  # one character: compared as itself
    assert similarity(NOISE_FIRST, NOISE_AGAIN) == similarity(NOISE_AGAIN, NOISE_FIRST)
    # full-width, punctuation, spaces and case do not count
    assert similarity("ＡＢＣ小区，路灯不亮！", "abc 小区 路灯不亮") == 1.0
    # "路灯不亮" vs "路灯坏了不亮": bigrams 路灯,灯不,不亮 vs 路灯,灯坏,坏了,了不,不亮
    assert similarity("路灯不亮", "路灯坏了不亮") == pytest.approx(2 / 6)


# --- find_duplicate -----------------------------------------------------------------------


def test_repeat_inside_the_window_is_found(policy: DispatchPolicy) -> None:
    earlier = summary("JK0001", NOISE_FIRST, hours_ago=20)
    match = find_duplicate(summary("JK0009", NOISE_AGAIN), [earlier], policy)
    assert match is not None
    assert match.wo_no == "JK0001"
    assert match.place == "region_code"
    assert match.score == pytest.approx(similarity(NOISE_FIRST, NOISE_AGAIN))
    assert "JK0001" in match.reason


@pytest.mark.parametrize(("hours_ago", "found"), [(71.9, True), (72, True), (72.1, False)])
def test_window_edge(policy: DispatchPolicy, hours_ago: float, found: bool) -> None:
    earlier = summary("JK0001", NOISE_FIRST, hours_ago=hours_ago)
    match = find_duplicate(summary("JK0009", NOISE_AGAIN), [earlier], policy)
    assert (match is not None) is found


def test_later_or_same_numbered_orders_are_not_duplicates(policy: DispatchPolicy) -> None:
    later = summary("JK0010", NOISE_FIRST, hours_ago=-1)
    itself = summary("JK0009", NOISE_AGAIN)
    assert find_duplicate(summary("JK0009", NOISE_AGAIN), [later, itself], policy) is None


def test_other_category_is_not_a_duplicate(policy: DispatchPolicy) -> None:
    earlier = summary("JK0001", NOISE_FIRST, hours_ago=2, category="URB-MUCK-SPILL")
    assert find_duplicate(summary("JK0009", NOISE_AGAIN), [earlier], policy) is None
    no_category = summary("JK0009", NOISE_AGAIN, category=None)
    assert find_duplicate(no_category, [summary("JK0001", NOISE_FIRST, category=None)], policy) is (
        None
    )


def test_other_place_is_not_a_duplicate(policy: DispatchPolicy) -> None:
    earlier = summary("JK0001", NOISE_FIRST, hours_ago=2, region="130199004002")
    assert find_duplicate(summary("JK0009", NOISE_AGAIN), [earlier], policy) is None


def test_below_threshold_is_not_a_duplicate(policy: DispatchPolicy) -> None:
    earlier = summary("JK0001", SQUARE_DANCE, hours_ago=2)
    assert find_duplicate(summary("JK0009", NOISE_AGAIN), [earlier], policy) is None
    west = summary("JK0002", LAMPS_WEST, hours_ago=2, category="LAMP-VILLAGE")
    east = summary("JK0009", LAMPS_EAST, category="LAMP-VILLAGE")
    assert find_duplicate(east, [west], policy) is None  # same village, other lamps


def test_district_wide_region_code_is_not_the_same_place(policy: DispatchPolicy) -> None:
    earlier = summary("JK0001", NOISE_FIRST, hours_ago=2, region="130199")
    assert (
        find_duplicate(summary("JK0009", NOISE_AGAIN, region="130199"), [earlier], policy) is None
    )


def test_same_address_after_normalising(policy: DispatchPolicy) -> None:
    earlier = summary(
        "JK0001", NOISE_FIRST, hours_ago=5, region=None, address="河北省经开区 永安路与兴业街交叉口"
    )
    candidate = summary("JK0009", NOISE_AGAIN, region=None, address="永安路与兴业街交叉口。")
    match = find_duplicate(candidate, [earlier], policy)
    assert match is not None and match.place == "address"
    assert normalise_address("经济技术开发区，永安路１号", ["经济技术开发区"]) == "永安路1号"


def test_coordinates_within_the_distance(policy: DispatchPolicy) -> None:
    earlier = summary("JK0001", NOISE_FIRST, hours_ago=5, region=None, at=(38.0520, 114.6380))
    near = summary("JK0009", NOISE_AGAIN, region=None, at=(38.0530, 114.6385))  # ≈ 120 m
    far = summary("JK0010", NOISE_AGAIN, region=None, at=(38.0560, 114.6380))  # ≈ 445 m
    match = find_duplicate(near, [earlier], policy)
    assert match is not None and match.place == "distance"
    assert match.distance_m == pytest.approx(120, abs=10)
    assert find_duplicate(far, [earlier], policy) is None


def test_best_match_is_most_similar_then_earliest(policy: DispatchPolicy) -> None:
    candidate = summary("JK0009", NOISE_AGAIN)
    weaker = summary("JK0001", NOISE_FIRST, hours_ago=30)
    twin_late = summary("JK0003", NOISE_AGAIN, hours_ago=3)
    twin_early = summary("JK0002", NOISE_AGAIN, hours_ago=10)
    match = find_duplicate(candidate, [weaker, twin_late, twin_early], policy)
    assert match is not None and (match.wo_no, match.score) == ("JK0002", 1.0)
    # order of the input does not matter
    again = find_duplicate(candidate, [twin_early, weaker, twin_late], policy)
    assert again == match


def test_settings_can_be_passed_alone(policy: DispatchPolicy) -> None:
    strict = policy.duplicates.model_copy(update={"threshold": 0.9})
    earlier = summary("JK0001", NOISE_FIRST, hours_ago=2)
    assert find_duplicate(summary("JK0009", NOISE_AGAIN), [earlier], policy.duplicates)
    assert find_duplicate(summary("JK0009", NOISE_AGAIN), [earlier], strict) is None


def test_summary_of_a_work_order(policy: DispatchPolicy) -> None:
    order = WorkOrder.model_validate(
        {
            "wo_no": "JK0001",
            "status": WorkOrderState.DISPATCHED,
            "origin": {"channel": "app"},
            "appeal_type": "complaint",
            "category_code": "ENV-NOISE",
            "title": NOISE_FIRST.split("\n")[0],
            "content": NOISE_FIRST.split("\n")[1],
            "location": {"region_code": "130199001001", "address": "永安路与兴业街交叉口"},
            "requester": {"anonymous": True},
            "created_at": NOW - timedelta(hours=1),
            "updated_at": NOW,
        }
    )
    first = summary_of(order)
    assert (first.region_code, first.address, first.text) == (
        "130199001001",
        "永安路与兴业街交叉口",
        NOISE_FIRST,
    )
    match = find_duplicate(replace(first, wo_no="JK0009", created_at=NOW), [first], policy)
    assert match is not None and match.score == 1.0


# --- geometry -----------------------------------------------------------------------------


def test_geometry_helpers() -> None:
    square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    assert in_ring(0.5, 0.5, square)
    assert in_ring(1.0, 0.5, square)  # on the edge counts as inside
    assert not in_ring(1.5, 0.5, square)
    assert in_ring(0.5, 0.5, [*square, square[0]])  # closed ring
    # one degree of latitude ≈ 111.2 km
    assert distance_m(38.0, 114.6, 39.0, 114.6) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(38.0, 114.6, 38.0, 114.6) == 0.0
