"""How long Airflow takes to parse dags/ with the shipped connectors and with 200 of them.

Each case runs in a fresh process that has imported Airflow already (as the dag-processor
has), and times `DagBag(dags/)` twice: `cold` also pays for importing the hub's modules, as
each parse in the dag-processor does; `warm` is a re-parse with them cached. The 200
configs are copies of the shipped ones under new names, in a temporary folder given by
HUB_CONNECTORS_DIR. Target (issue 5): cold ≤ 2 s for 200 connectors. Last line: JSON.

    .venv/bin/python bench/dag_parse.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 2.0

CHILD = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag  # Airflow first, as in the dag-processor

def load():
    start = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    return time.perf_counter() - start, bag

cold, bag = load()
warm, again = load()
print(json.dumps({"cold": cold, "warm": warm, "dags": len(bag.dags),
                  "import_errors": {str(k): v[:300] for k, v in bag.import_errors.items()}}))
"""


def make_connectors(target: Path, count: int) -> None:
    """`count` valid configs: the shipped ones round-robin, renamed <name>_<n>."""
    shipped = sorted((ROOT / "connectors").glob("*.yaml"))
    for n in range(count):
        source = shipped[n % len(shipped)]
        name = f"{source.stem}_{n:03d}"
        text = source.read_text("utf-8")
        text = re.sub(r"^name: .*$", f"name: {name}", text, count=1, flags=re.MULTILINE)
        (target / f"{name}.yaml").write_text(text, "utf-8")


def measure(connectors: Path, home: Path) -> dict[str, object]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(ROOT),
        "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
        "HUB_HOME": str(home),
        "HUB_CONNECTORS_DIR": str(connectors),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    (home / "airflow").mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT / "dags")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    parser.add_argument("--count", type=int, default=200, help="generated connector configs")
    args = parser.parse_args()
    figures: dict[str, dict[str, float | int]] = {}
    with tempfile.TemporaryDirectory(prefix="jk-dag-parse-") as tmp:
        base = Path(tmp)
        many = base / "connectors"
        many.mkdir()
        make_connectors(many, args.count)
        one = base / "one"
        one.mkdir()
        make_connectors(one, 1)
        for label, folder in (("1", one), (str(args.count), many)):
            runs = [measure(folder, base / "home") for _ in range(args.repeat)]
            errors = [r["import_errors"] for r in runs if r["import_errors"]]
            if errors:
                print(f"import errors: {errors[0]}", file=sys.stderr)
                return 1
            cold = min(float(r["cold"]) for r in runs)  # type: ignore[arg-type]
            warm = min(float(r["warm"]) for r in runs)  # type: ignore[arg-type]
            dags = int(runs[0]["dags"])  # type: ignore[call-overload]
            figures[label] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3), "dags": dags}
            print(
                f"{label:>4} 个连接器 connectors: {dags} DAGs, "
                f"冷解析 cold {cold:.3f} s, 热解析 warm {warm:.3f} s (best of {args.repeat})"
            )
    big = figures[str(args.count)]
    ok = float(big["cold_s"]) <= TARGET_SECONDS
    verdict = "达标 OK" if ok else "未达标 MISSED"
    print(f"目标 target: {args.count} 个连接器 ≤ {TARGET_SECONDS} s → {verdict}")
    print(
        json.dumps(
            {
                "bench": "dag_parse",
                "connectors_1": figures["1"],
                f"connectors_{args.count}": big,
                "target_s": TARGET_SECONDS,
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
