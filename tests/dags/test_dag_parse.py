"""dags/ as Airflow's DagBag sees it: no import errors, the expected DAGs and tasks, schedules,
retries, tags and docs — parsed with the network and the hub database refused."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from dag_helpers import airflow_env, describe

from hub.airflow.configs import load_units
from hub.airflow.dag_factory import CONNECTOR_PREFIX
from hub.config import REPO_ROOT
from hub.connectors.loader import load_connectors

CONNECTORS = REPO_ROOT / "connectors"
CONFIGS = load_connectors(CONNECTORS)
UNITS = load_units(REPO_ROOT / "policies").by_code
SYSTEM = {"jk_sweep_route_dispatch", "jk_sweep_supervise", "jk_daily_report"}
TZ = "Asia/Shanghai"

BROKEN_FILES = {
    # a misspelt key: the loader names line 10 and the field
    "broken_key.yaml": (
        "name: broken_key\nkind: rest\nunit: JKQ-XYZX\nendpoint:\n  url: http://127.0.0.1:1\n"
        "streams:\n  - name: orders\n    path: /x\n    mapping: hotline_order\n    shedule: 5m\n"
    ),
    # valid YAML and model, but a cron Airflow cannot run
    "bad_cron.yaml": (
        "name: bad_cron\nkind: rest\nunit: JKQ-XYZX\nendpoint:\n  url: http://127.0.0.1:1\n"
        "streams:\n  - name: orders\n    path: /x\n    mapping: hotline_order\n"
        "    schedule: '61 * * * *'\n"
    ),
    # not even YAML, and a file name no DAG id may carry
    "bad yaml.yaml": "name: [unclosed\n",
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    broken = tmp_path_factory.mktemp("connectors-broken")
    for path in CONNECTORS.glob("*.yaml"):
        shutil.copy(path, broken / path.name)
    for name, text in BROKEN_FILES.items():
        (broken / name).write_text(text, "utf-8")
    home = tmp_path_factory.mktemp("hub-home")
    # The hub database may not even exist: parsing must never open it.
    env = airflow_env(home, HUB_DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    return describe(env, shipped=CONNECTORS, broken=broken)


def dags_of(parsed: dict[str, Any], case: str = "shipped") -> dict[str, Any]:
    return dict(parsed[case]["dags"])


def test_dags_folder_loads_without_import_errors(parsed: dict[str, Any]) -> None:
    assert parsed["shipped"]["import_errors"] == {}
    expected = {CONNECTOR_PREFIX + name for name in CONFIGS} | SYSTEM
    assert set(dags_of(parsed)) == expected


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_connector_dag_has_a_task_per_stream_and_a_poll_for_status(
    parsed: dict[str, Any], name: str
) -> None:
    config = CONFIGS[name]
    dag = dags_of(parsed)[CONNECTOR_PREFIX + name]
    expected = {f"pull_{s.name}" for s in config.streams}
    if any(op.name == "status" for op in config.operations):
        expected.add("poll_feedback")
    assert set(dag["tasks"]) == expected
    for task_id, task in dag["tasks"].items():
        assert task["retries"] >= 3, task_id
        assert task["retry_exponential_backoff"] > 1, task_id
        assert task["max_retry_delay"] and task["retry_delay"], task_id
        assert task["op_kwargs"]["connector"] == name
    unit = UNITS[config.unit]
    assert {
        "connector",
        f"unit:{config.unit}",
        f"kind:{config.kind}",
        f"tier:{unit.tier}",
    } <= set(dag["tags"])
    assert config.description in dag["doc_md"] and config.owner in dag["doc_md"]
    assert unit.name in dag["doc_md"] and f"{name}.yaml" in dag["doc_md"]
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert dag["timetable"]["timezone"] == TZ


def test_schedules_come_from_the_configs(parsed: dict[str, Any]) -> None:
    dags = dags_of(parsed)
    hotline = dags["jk_connector_hotline_centre"]
    assert hotline["timetable"]["type"] == "CronTriggerTimetable"
    assert hotline["timetable"]["crons"] == ["*/5 * * * *"]  # orders: schedule 5m
    assert hotline["tasks"]["pull_orders"]["op_kwargs"]["turn"] is None
    # hebei_network: matters 1h, cases 15m → fires on both, each task on its own ticks
    hebei = dags["jk_connector_hebei_network"]
    assert hebei["timetable"]["type"] == "MultipleCronTriggerTimetable"
    assert sorted(hebei["timetable"]["crons"]) == ["*/15 * * * *", "0 * * * *"]
    assert hebei["tasks"]["pull_matters"]["op_kwargs"]["turn"] == "0 * * * *"
    assert hebei["tasks"]["pull_cases"]["op_kwargs"]["turn"] == "*/15 * * * *"
    # OA connectors with a status operation only: the feedback poll every 5 minutes
    for name in ("weaver_env", "seeyon_urban", "tongda_housing", "inbox_town"):
        assert dags[CONNECTOR_PREFIX + name]["timetable"]["crons"] == ["*/5 * * * *"]


def test_matter_catalogue_sync_is_the_hebei_matters_task(parsed: dict[str, Any]) -> None:
    dags = dags_of(parsed)
    tagged = [d for d, dag in dags.items() if "matter_catalogue" in dag["tags"]]
    assert tagged == ["jk_connector_hebei_network"]
    assert "matter catalogue sync" in dags["jk_connector_hebei_network"]["doc_md"]


def test_system_dags(parsed: dict[str, Any]) -> None:
    dags = dags_of(parsed)
    sweep = dags["jk_sweep_route_dispatch"]
    assert sweep["timetable"]["crons"] == ["* * * * *"]
    assert sweep["tasks"]["dispatch"]["upstream"] == ["route"]
    assert sweep["tasks"]["route"]["op_kwargs"] == {"which": "route"}
    assert dags["jk_sweep_supervise"]["timetable"]["crons"] == ["*/5 * * * *"]
    assert set(dags["jk_sweep_supervise"]["tasks"]) == {"supervise"}
    report = dags["jk_daily_report"]
    assert report["timetable"]["crons"] == ["30 0 * * *"]
    assert report["params"] == ["day"]
    for dag_id in SYSTEM:
        assert dags[dag_id]["timetable"]["timezone"] == TZ
        assert "system" in dags[dag_id]["tags"]
        for task in dags[dag_id]["tasks"].values():
            assert task["retries"] >= 3 and task["retry_exponential_backoff"] > 1


def test_broken_configs_do_not_hide_the_others(parsed: dict[str, Any]) -> None:
    broken = parsed["broken"]
    assert broken["import_errors"] == {}
    dags = broken["dags"]
    assert set(dags_of(parsed)) <= set(dags)  # every good DAG still there, unchanged
    assert dags["jk_connector_hotline_centre"] == dags_of(parsed)["jk_connector_hotline_centre"]
    expected = {
        "jk_connector_broken_key": ("broken_key.yaml:10", "streams[0].shedule"),
        "jk_connector_bad_cron": ("bad_cron.yaml:10", "streams[0].schedule"),
        "jk_connector_bad_yaml": ("bad yaml.yaml:2", "YAML"),
    }
    for dag_id, (where, field) in expected.items():
        dag = dags[dag_id]
        assert set(dag["tasks"]) == {"config_error"}, dag_id
        assert "config_error" in dag["tags"]
        message = dag["tasks"]["config_error"]["op_kwargs"]["message"]
        for text in (dag["description"], dag["doc_md"], message):
            assert where in text and field in text, (dag_id, text)
        assert dag["tasks"]["config_error"]["retries"] == 0
        assert dag["timetable"]["run_immediately"] is True  # fails at once, visibly


def test_parsing_is_fast(parsed: dict[str, Any]) -> None:
    # bench/dag_parse.py measures 200 connectors; this only guards against a regression
    # that would make the few shipped ones slow (e.g. network or database at parse time).
    assert parsed["shipped"]["seconds"] < 10
