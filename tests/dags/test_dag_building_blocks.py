"""The pure parts behind the DAGs: schedules, and the fast config reading at parse time."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.airflow.configs import (
    Broken,
    Loaded,
    load_connector_fast,
    load_units,
    mapping_target,
    scan,
)
from hub.airflow.schedules import Plan, ScheduleError, is_turn, plan, to_cron
from hub.config import REPO_ROOT, Settings
from hub.connectors.loader import load_connector
from hub.yamlconf import ConfigError

CONNECTORS = REPO_ROOT / "connectors"
POLICIES = REPO_ROOT / "policies"
UNITS = load_units(POLICIES)


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ("5m", "*/5 * * * *"),
        ("1m", "* * * * *"),
        ("15m", "*/15 * * * *"),
        ("1h", "0 * * * *"),
        ("60m", "0 * * * *"),
        ("2h", "0 */2 * * *"),
        ("1d", "0 0 * * *"),
        ("@daily", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("0  8 * * 1-5", "0 8 * * 1-5"),
        ("7m", None),
        ("90m", None),
        ("5h", None),
        ("30s", None),
        ("@once", None),
    ],
)
def test_to_cron(schedule: str, cron: str | None) -> None:
    assert to_cron(schedule) == cron


def test_one_schedule_is_the_dag_schedule_and_every_task_runs_each_time() -> None:
    assert plan({"pull_orders": "5m"}) == Plan(crons=("*/5 * * * *",), turns={"pull_orders": None})
    assert plan({"pull_a": "7m", "pull_b": "7m"}) == Plan(
        delta_seconds=420, turns={"pull_a": None, "pull_b": None}
    )
    assert plan({"pull_a": "@once"}).preset == "@once"


def test_mixed_schedules_fire_on_their_union_and_each_task_keeps_its_turn() -> None:
    p = plan({"pull_matters": "1h", "pull_cases": "15m", "poll_feedback": "5m"})
    assert p.crons == ("*/15 * * * *", "*/5 * * * *", "0 * * * *")
    assert p.turns == {
        "pull_matters": "0 * * * *",
        "pull_cases": "*/15 * * * *",
        "poll_feedback": "*/5 * * * *",
    }


def test_mixed_without_a_cron_form_runs_everything_at_the_fastest() -> None:
    p = plan({"pull_a": "7m", "pull_b": "1h"})
    assert p.delta_seconds == 420
    assert p.turns == {"pull_a": None, "pull_b": None}
    p = plan({"pull_a": "90m", "pull_b": "5m"})
    assert p.crons == ("*/5 * * * *",)


@pytest.mark.parametrize(
    ("jobs", "job", "words"),
    [
        ({"pull_a": "61 * * * *"}, "pull_a", "cron"),
        ({"pull_a": "@fortnightly"}, "pull_a", "preset"),
        ({"pull_a": "30s"}, "pull_a", "1m"),
        ({"pull_a": "@once", "pull_b": "5m"}, "pull_a", "mixed"),
    ],
)
def test_schedules_airflow_would_refuse_name_their_task(
    jobs: dict[str, str], job: str, words: str
) -> None:
    with pytest.raises(ScheduleError) as raised:
        plan(jobs)
    assert raised.value.job == job
    assert words in str(raised.value)


def test_turns_are_read_in_china_time() -> None:
    ten_am_beijing = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    assert is_turn("0 10 * * *", ten_am_beijing)
    assert not is_turn("0 2 * * *", ten_am_beijing)
    assert is_turn("0 * * * *", ten_am_beijing)
    assert not is_turn("0 * * * *", datetime(2026, 1, 5, 2, 15, tzinfo=UTC))
    assert is_turn("*/15 * * * *", datetime(2026, 1, 5, 2, 15, tzinfo=UTC))
    assert is_turn(None, ten_am_beijing)


def test_org_unit_tiers_are_read_from_the_policies() -> None:
    assert UNITS.error is None
    assert UNITS.by_code["JKQ-XYZX"].tier == "department"
    assert UNITS.by_code["JKQ-T01"].tier == "town_street"


def test_broken_org_units_file_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "org_units.yaml").write_text("units:\n  - code: JKQ-X\n    tier: galaxy\n")
    units = load_units(tmp_path)
    assert units.error is not None and units.codes is None
    assert "org_units.yaml" in str(units.error) and units.error.line is not None


def test_fast_reading_gives_exactly_what_the_loader_gives() -> None:
    for path in sorted(CONNECTORS.glob("*.yaml")):
        assert load_connector_fast(path, UNITS.codes) == load_connector(path, UNITS.codes)


GOOD = "kind: rest\nunit: JKQ-XYZX\nendpoint:\n  url: http://127.0.0.1:1\n"
BROKEN = {
    "unknown_key": GOOD
    + "streams:\n  - name: orders\n    path: /x\n    mapping: m\n    shedule: 5m\n",
    "secret": GOOD + "connection: x\npassword: hunter2\n",
    "bad_unit": GOOD.replace("JKQ-XYZX", "JKQ-NOPE"),
    "no_url": GOOD.replace("endpoint:\n  url: http://127.0.0.1:1\n", ""),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_fast_reading_fails_with_the_loaders_error(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_text(f"name: {case}\n" + BROKEN[case])
    with pytest.raises(ConfigError) as slow:
        load_connector(path, UNITS.codes)
    with pytest.raises(ConfigError) as fast:
        load_connector_fast(path, UNITS.codes)
    assert str(fast.value) == str(slow.value)
    assert fast.value.field


def test_scan_keeps_going_past_a_broken_file(tmp_path: Path) -> None:
    for path in CONNECTORS.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "aaa_broken.yaml").write_text("name: aaa_broken\nkind: carrier_pigeon\n")
    found = scan(Settings(connectors_dir=tmp_path, policies_dir=POLICIES), UNITS)
    broken = [f for f in found if isinstance(f, Broken)]
    assert [b.path.name for b in broken] == ["aaa_broken.yaml"]
    assert broken[0].error.field == "kind" and broken[0].error.line == 2
    assert len([f for f in found if isinstance(f, Loaded)]) == len(list(CONNECTORS.glob("*.yaml")))


def test_matter_catalogue_streams_are_found_by_their_mapping_target() -> None:
    mappings = REPO_ROOT / "mappings"
    assert mapping_target(mappings, "hebei_matter") == "service_matter"
    assert mapping_target(mappings, "hotline_order") == "work_order"
    assert mapping_target(mappings, "no_such_mapping") is None
