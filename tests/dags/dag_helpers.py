"""Helpers for the DAG tests (not a conftest.py: tests/conftest.py is the only one).

Airflow configures itself and opens its metadata database when imported, so the tests run it
in a child process (airflow_child.py) with an environment of their own: the repository's
airflow.cfg, and HUB_HOME — hence Airflow's database and logs — in the test's temp folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hub.config import REPO_ROOT

DAGS = REPO_ROOT / "dags"
CHILD = Path(__file__).with_name("airflow_child.py")
MARK = "AIRFLOW_CHILD_RESULT "
INTEGRATION = REPO_ROOT / "tests" / "integration"
#: Fixed keys for the test's Airflow (make run generates real ones).
TEST_SECRETS = {
    "AIRFLOW__API_AUTH__JWT_SECRET": "jk-test-jwt-secret-not-for-production",
    "AIRFLOW__API__SECRET_KEY": "jk-test-api-secret-not-for-production",
}


def use_integration_helpers() -> None:
    """Make tests/integration's helper modules importable from here."""
    if str(INTEGRATION) not in sys.path:
        sys.path.insert(0, str(INTEGRATION))


def airflow_env(hub_home: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow process for a test: nothing inherited that would point
    it at another Airflow, another hub database or a running task."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "_AIRFLOW", "HUB_")) and k != "PYTEST_CURRENT_TEST"
    }
    (hub_home / "airflow").mkdir(parents=True, exist_ok=True)
    env.update(
        AIRFLOW_HOME=str(REPO_ROOT),
        AIRFLOW_CONFIG=str(REPO_ROOT / "airflow.cfg"),
        HUB_HOME=str(hub_home),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        PYTHONPATH=str(REPO_ROOT),
        **TEST_SECRETS,
    )
    env.update(extra)
    return env


def run_child(args: list[str], env: dict[str, str], timeout: float = 600) -> tuple[Any, str]:
    """Run airflow_child.py; its JSON result and everything it printed (task logs included)."""
    done = subprocess.run(
        [sys.executable, str(CHILD), *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    assert done.returncode == 0 and lines, f"Airflow child failed ({done.returncode}):\n{output}"
    return json.loads(lines[-1][len(MARK) :]), output


def migrate(env: dict[str, str]) -> None:
    """Create Airflow's metadata tables (SQLite under the test's HUB_HOME)."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def describe(env: dict[str, str], **cases: Path) -> dict[str, Any]:
    """DagBag of dags/ for each connectors folder, parsed with network and database refused."""
    result, _ = run_child(
        ["describe", str(DAGS), *(f"{label}={folder}" for label, folder in cases.items())], env
    )
    return dict(result)


def dag_test(env: dict[str, str], *runs: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """`dag.test()` for each run ({dag_id, conn_file?, conf?}) in one child; results, output."""
    result, output = run_child(["test", str(DAGS), json.dumps({"runs": list(runs)})], env)
    assert not result["import_errors"], result["import_errors"]
    return list(result["runs"]), output
