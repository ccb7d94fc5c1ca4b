"""Run Airflow in a child process for the DAG tests and print one JSON line.

Airflow reads its configuration and opens its metadata database when imported, so each test
runs it here, with the environment the test chose, instead of inside pytest.

    python airflow_child.py describe DAGS_FOLDER LABEL=CONNECTORS_DIR ...
    python airflow_child.py test DAGS_FOLDER '{"runs": [{"dag_id", "conn_file"?, "conf"?,
                                                        "before"?: {"control", "action", "body"}}]}'
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from datetime import timedelta
from typing import Any

MARK = "AIRFLOW_CHILD_RESULT "


def _timetable(tt: Any) -> dict[str, Any]:
    kind = type(tt).__name__
    crons: list[str] = []
    for part in getattr(tt, "timetables", None) or [tt]:
        expression = getattr(part, "expression", None) or getattr(part, "_expression", None)
        if expression:
            crons.append(str(expression))
    zone = getattr(tt, "timezone", None) or getattr(tt, "_timezone", None)
    if zone is None and getattr(tt, "timetables", None):
        zone = getattr(tt.timetables[0], "timezone", None)
    delta = getattr(tt, "delta", None) or getattr(tt, "_delta", None)
    return {
        "type": kind,
        "crons": crons,
        "timezone": str(getattr(zone, "name", zone)) if zone is not None else None,
        "delta_seconds": delta.total_seconds() if isinstance(delta, timedelta) else None,
        "run_immediately": getattr(tt, "run_immediately", None),
    }


def _seconds(value: Any) -> float | None:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) if value is not None else None


def _describe_bag(dags_folder: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    start = time.perf_counter()
    bag = DagBag(dag_folder=dags_folder)
    seconds = time.perf_counter() - start
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "tags": sorted(dag.tags),
            "description": dag.description,
            "doc_md": dag.doc_md,
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "timetable": _timetable(dag.timetable),
            "params": sorted(dag.params.keys()),
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "retry_delay": _seconds(t.retry_delay),
                    "retry_exponential_backoff": float(t.retry_exponential_backoff or 0),
                    "max_retry_delay": _seconds(t.max_retry_delay),
                    "owner": t.owner,
                    "upstream": sorted(t.upstream_task_ids),
                    "op_kwargs": {k: v for k, v in (getattr(t, "op_kwargs", None) or {}).items()},
                }
                for t in dag.tasks
            },
        }
    return {
        "seconds": seconds,
        "import_errors": {str(k): v for k, v in bag.import_errors.items()},
        "dags": dags,
    }


def _no_network_or_database() -> None:
    """Parsing must not reach the network or a database: make both fail loudly."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("network access during DAG parsing")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse
    from hub.store import db

    def refuse_engine(url: str) -> Any:
        raise RuntimeError(f"hub database opened during DAG parsing: {url}")

    db.make_engine = refuse_engine  # type: ignore[assignment]


def describe(dags_folder: str, cases: list[str]) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag  # noqa: F401 - Airflow first

    _no_network_or_database()
    out = {}
    for case in cases:
        label, _, folder = case.partition("=")
        os.environ["HUB_CONNECTORS_DIR"] = folder
        out[label] = _describe_bag(dags_folder)
    return out


def _xcom(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.key == "return_value",
            )
        ).all()
    values = {}
    for task_id, value in rows:
        values[task_id] = json.loads(value) if isinstance(value, str | bytes) else value
    return values


def _act_on_every_task(control: str, action: str, body: dict[str, Any]) -> None:
    """`POST <control>/by-wo-no/<wo_no>/<action>` for every task a sandbox OA holds."""
    import urllib.request

    with urllib.request.urlopen(f"{control}/tasks", timeout=30) as response:
        tasks = json.loads(response.read())
    assert tasks, f"no task in {control}"
    for item in tasks:
        request = urllib.request.Request(
            f"{control}/by-wo-no/{item['hub_wo_no']}/{action}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as done:
            assert done.status == 200, done.read()


def test(dags_folder: str, plan: dict[str, Any]) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder)
    results = []
    for run in plan["runs"]:
        if run.get("before"):  # act like the department between two runs (sandbox control API)
            _act_on_every_task(**run["before"])
        dag = bag.dags[run["dag_id"]]
        dag_run = dag.test(conn_file_path=run.get("conn_file"), run_conf=run.get("conf"))
        results.append(
            {
                "dag_id": run["dag_id"],
                "state": str(dag_run.state),
                "tasks": {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()},
                "xcom": _xcom(dag.dag_id, dag_run.run_id),
            }
        )
    return {"import_errors": {str(k): v for k, v in bag.import_errors.items()}, "runs": results}


def main(argv: list[str]) -> int:
    command, dags_folder, *rest = argv
    if command == "describe":
        result = describe(dags_folder, rest)
    else:
        result = test(dags_folder, json.loads(rest[0]))
    print(MARK + json.dumps(result, ensure_ascii=False, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
