"""Hebei network over SOAP: matter list and cases, paged and incremental by cd_time."""

from __future__ import annotations

import time

import requests
import zeep
from sandbox_helpers import control

from hub.sandbox import Sandbox
from hub.sandbox.hebei_seed import FOOD_LICENCE_TASK_CODE, MATTER_COLUMNS, generate_matters

#: The sandbox fixtures: running, sb (reset before each test), weaver, hebei.
pytest_plugins = ["sandbox_fixtures"]


def walk(hebei: zeep.Client, page_size: int, since: str = "", since_code: str = "") -> list:
    """Every page of matters after the cursor, the way a sync job pages."""
    items, page_no = [], 1
    while True:
        page = hebei.service.queryTasks(
            since=since, sinceCode=since_code, pageNo=page_no, pageSize=page_size
        )
        batch = page.tasks.TaskInfo if page.tasks else []
        items.extend(batch)
        if page_no * page_size >= page.total:
            return items
        page_no += 1


def test_seed_is_deterministic_and_starts_with_scenario_six() -> None:
    first = list(generate_matters(50))
    assert first == list(generate_matters(50))
    food = first[0]
    assert (food["task_name"], food["anticipate_day"], food["promise_day"]) == (
        "食品经营许可",
        20,
        10,
    )
    assert food["limit_scene_num"] == 1
    assert len({m["task_code"] for m in first}) == 50
    assert all(len(m["task_code"]) == 24 and len(m["catalog_code"]) <= 10 for m in first)
    assert set(first[1]) == set(MATTER_COLUMNS)


def test_paging_walks_every_matter_once_in_order(sb: Sandbox, hebei: zeep.Client) -> None:
    sb["hebei"].seed(2_500)  # type: ignore[attr-defined]
    items = walk(hebei, 1000)
    assert len(items) == 2_500
    assert len({m.task_code for m in items}) == 2_500
    keys = [(m.cd_time, m.task_code) for m in items]
    assert keys == sorted(keys)
    assert items[0].task_code == FOOD_LICENCE_TASK_CODE


def test_incremental_by_change_time_sees_changes_suspensions_and_deletions(
    sb: Sandbox, hebei: zeep.Client
) -> None:
    sb["hebei"].seed(300)  # type: ignore[attr-defined]
    last = walk(hebei, 100)[-1]
    assert walk(hebei, 100, last.cd_time, last.task_code) == []
    # Scenario 6: the department shortens the promise to 7 days.
    changed = control(
        sb, "hebei", "PATCH", f"/matters/{FOOD_LICENCE_TASK_CODE}", json={"promise_day": 7}
    )
    assert (changed["task_version"], changed["promise_day"], changed["cd_operation"]) == (2, 7, "U")
    others = [m.task_code for m in walk(hebei, 100)[1:3]]
    control(sb, "hebei", "POST", f"/matters/{others[0]}/suspend")
    control(sb, "hebei", "DELETE", f"/matters/{others[1]}")
    delta = walk(hebei, 100, last.cd_time, last.task_code)
    assert [m.task_code for m in delta] == sorted(
        [FOOD_LICENCE_TASK_CODE, *others],
        key=lambda code: (next(m.cd_time for m in delta if m.task_code == code), code),
    )
    states = {m.task_code: (m.task_state, m.cd_operation) for m in delta}
    assert states[others[0]] == ("2", "U") and states[others[1]] == ("3", "D")
    assert hebei.service.getTask(FOOD_LICENCE_TASK_CODE).promise_day == 7


def test_cases_keep_the_promise_of_their_version(sb: Sandbox, hebei: zeep.Client) -> None:
    sb["hebei"].seed(10)  # type: ignore[attr-defined]
    old = control(
        sb, "hebei", "POST", "/cases",
        json={"task_code": FOOD_LICENCE_TASK_CODE, "accept_date": "2026-11-23 09:00:00"},
    )  # fmt: skip
    assert old["promise_date"] == "2026-12-07 09:00:00"  # 10 working days from a Monday
    control(sb, "hebei", "PATCH", f"/matters/{FOOD_LICENCE_TASK_CODE}", json={"promise_day": 7})
    new = control(
        sb, "hebei", "POST", "/cases",
        json={"task_code": FOOD_LICENCE_TASK_CODE, "accept_date": "2026-11-23 09:00:00",
              "visits": 2},
    )  # fmt: skip
    assert (old["task_version"], new["task_version"]) == (1, 2)
    assert new["promise_date"] == "2026-12-02 09:00:00"
    control(sb, "hebei", "PATCH", f"/cases/{old['project_no']}",
            json={"result_type": "1", "satisfaction": "1"})  # fmt: skip
    page = hebei.service.queryProjects(pageNo=1, pageSize=10)
    cases = {c.project_no: c for c in page.projects.ProjectInfo}
    assert page.total == 2
    assert cases[old["project_no"]].result_type == "1"
    assert cases[old["project_no"]].promise_date == "2026-12-07 09:00:00"
    assert cases[new["project_no"]].visits == 2
    assert cases[old["project_no"]].cd_operation == "U"


def test_control_rejects_unknown_and_duplicate_matters(sb: Sandbox) -> None:
    base = sb.urls["hebei"] + "/_sandbox"
    assert requests.patch(f"{base}/matters/NOPE", json={}, timeout=5).status_code == 404
    matter = {"task_code": "T1", "catalog_code": "C1", "task_name": "测试事项",
              "dept_code": "D1", "dept_name": "经开区行政审批局"}  # fmt: skip
    assert requests.post(f"{base}/matters", json=matter, timeout=5).json()["task_version"] == 1
    assert requests.post(f"{base}/matters", json=matter, timeout=5).status_code == 409
    assert requests.post(f"{base}/cases", json={"task_code": "NOPE"}, timeout=5).status_code == 404


def test_bad_paging_is_a_fault(sb: Sandbox, hebei: zeep.Client) -> None:
    try:
        hebei.service.queryTasks(pageNo=0, pageSize=5000)
    except zeep.exceptions.Fault as fault:
        assert "pageSize" in fault.message
    else:
        raise AssertionError("expected a SOAP fault")


def test_one_hundred_thousand_matters(sb: Sandbox, hebei: zeep.Client) -> None:
    """The sync benchmark's catalogue: seeded fast, deep pages still quick."""
    started = time.perf_counter()
    seconds = control(sb, "hebei", "POST", "/seed", json={"matters": 100_000})["seconds"]
    elapsed = time.perf_counter() - started
    print(f"\nseeded 100,000 matters in {seconds:.2f} s (request {elapsed:.2f} s)")
    assert elapsed < 15
    started = time.perf_counter()
    page = hebei.service.queryTasks(pageNo=100, pageSize=1000)
    deep = time.perf_counter() - started
    print(f"page 100 of 1,000 matters via zeep in {deep:.2f} s")
    assert page.total == 100_000 and len(page.tasks.TaskInfo) == 1000
    tail = hebei.service.queryTasks(since=page.tasks.TaskInfo[-1].cd_time, pageNo=1, pageSize=10)
    assert tail.total == 0
