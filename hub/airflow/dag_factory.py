"""Build the hub's DAGs: one per connector config, plus the system DAGs.

Called by the thin files in ``dags/``. Parsing reads files only (connector configs, org units,
the `target:` line of mappings) — never the network or a database — and a broken connector
config becomes a DAG of its own whose only task fails with the file, line and field, so the
other connectors' DAGs are never hidden by it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import (
    DAG,
    CronTriggerTimetable,
    DeltaTriggerTimetable,
    MultipleCronTriggerTimetable,
    Param,
    get_parsing_context,
    task,
)

from hub.airflow import tasks
from hub.airflow.configs import Broken, Loaded, Units, load_units, mapping_target, scan
from hub.airflow.schedules import FEEDBACK_SCHEDULE, TIMEZONE, Plan, ScheduleError, plan
from hub.config import Settings
from hub.connectors.models import ConnectorConfig
from hub.yamlconf import ConfigError, field_path, line_of, read_yaml

CONNECTOR_PREFIX = "jk_connector_"
ROUTE_DISPATCH_DAG = "jk_sweep_route_dispatch"
SUPERVISE_DAG = "jk_sweep_supervise"
DAILY_REPORT_DAG = "jk_daily_report"
POLICIES_DAG = "jk_policies_org_units"
POLL_TASK = "poll_feedback"
#: Streams whose mapping targets this are the matter catalogue (政务服务事项清单) sync.
CATALOGUE_TARGET = "service_matter"

RETRIES = 3
START = pendulum.datetime(2025, 1, 1, tz=TIMEZONE)


def default_args(owner: str) -> dict[str, Any]:
    """Retries with exponential backoff: 30 s, 60 s, 120 s … at most 15 minutes apart."""
    return {
        "owner": owner or "jingkai",
        "retries": RETRIES,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(hours=1),
    }


def connector_dag_id(stem: str) -> str:
    """`jk_connector_<name>`; a broken file's odd name is made safe for a DAG id."""
    return CONNECTOR_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "_", stem)


def timetable(p: Plan) -> Any:
    """The Airflow schedule for a plan; cron is read in China time."""
    if len(p.crons) == 1:
        return CronTriggerTimetable(p.crons[0], timezone=TIMEZONE)
    if p.crons:
        return MultipleCronTriggerTimetable(*p.crons, timezone=TIMEZONE)
    if p.delta_seconds is not None:
        return DeltaTriggerTimetable(timedelta(seconds=p.delta_seconds))
    return p.preset


def _jobs(config: ConnectorConfig) -> dict[str, str]:
    """Task id → schedule: one pull per stream, and the feedback poll if there is one."""
    jobs = {f"pull_{s.name}": s.schedule for s in config.streams}
    if any(op.name == "status" for op in config.operations):
        jobs[POLL_TASK] = FEEDBACK_SCHEDULE
    return jobs


def _schedule_error(path: Path, config: ConnectorConfig, exc: ScheduleError) -> ConfigError:
    """Name the stream's `schedule` field (and its line) for a schedule Airflow refuses."""
    index = next((i for i, s in enumerate(config.streams) if exc.job == f"pull_{s.name}"), None)
    if index is None:
        return ConfigError(path, None, exc.job, str(exc))
    loc: list[str | int] = ["streams", index, "schedule"]
    try:
        _, root = read_yaml(path)
        line = line_of(root, loc)
    except ConfigError:
        line = None
    return ConfigError(path, line, field_path(loc), str(exc))


def _doc(config: ConnectorConfig, path: Path, units: Units, p: Plan, catalogue: list[str]) -> str:
    unit = units.by_code.get(config.unit)
    unit_text = f"{config.unit} {unit.name}（{unit.tier}）" if unit else config.unit
    lines = [
        f"### 连接器 (connector) `{config.name}`",
        "",
        config.description or "（无说明 no description）",
        "",
        "| 项 (item) | 值 (value) |",
        "| --- | --- |",
        f"| 类型 (kind) | {config.kind} |",
        f"| 所属单位 (unit, tier) | {unit_text} |",
        f"| 负责人 (owner) | {config.owner or '—'} |",
        f"| 配置文件 (config) | `{path.name}` |",
        f"| 调度 (schedule, {TIMEZONE}) | `{p.describe()}` |",
    ]
    if config.connection:
        env = f"AIRFLOW_CONN_{config.connection.upper()}"
        lines.append(
            f"| 凭据 (connection) | Airflow 连接 `{config.connection}` 或环境变量 `{env}` |"
        )
    lines += ["", "**任务 (tasks)**", ""]
    for stream in config.streams:
        note = " — 政务服务事项清单同步 (matter catalogue sync)" if stream.name in catalogue else ""
        lines.append(
            f"- `pull_{stream.name}`: 增量拉取数据流 (incremental pull of stream) "
            f"`{stream.name}` → 映射 (mapping) `{stream.mapping}`，"
            f"每 (every) `{stream.schedule}`{note}"
        )
    if POLL_TASK in p.turns:
        lines.append(
            f"- `{POLL_TASK}`: 回读对方系统的办理状态 (poll the system for answers)，"
            f"每 (every) `{FEEDBACK_SCHEDULE}`"
        )
    lines += [
        "",
        "手动触发会运行全部任务 (a manual run runs every task); 排查配置 (check the config): "
        f"`jingkai connectors check {config.name}`",
    ]
    return "\n".join(lines)


def connector_dag(loaded: Loaded, units: Units, settings: Settings) -> DAG:
    """One connector's DAG: a pull per stream and, with a status operation, a feedback poll."""
    config, path = loaded.config, loaded.path
    try:
        p = plan(_jobs(config))
    except ScheduleError as exc:
        return broken_dag(Broken(path, _schedule_error(path, config, exc)))
    unit = units.by_code.get(config.unit)
    catalogue = [
        s.name
        for s in config.streams
        if mapping_target(settings.mappings_dir, s.mapping) == CATALOGUE_TARGET
    ]
    tags = {"connector", f"unit:{config.unit}", f"kind:{config.kind}"}
    tags.add(f"tier:{unit.tier}" if unit else "tier:unknown")
    if catalogue:
        tags.add("matter_catalogue")
    with DAG(
        dag_id=connector_dag_id(config.name),
        description=f"{config.description or config.name} · {config.owner}".strip(" ·"),
        doc_md=_doc(config, path, units, p, catalogue),
        schedule=timetable(p),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        default_args=default_args(config.owner),
        tags=sorted(tags),
    ) as dag:
        for stream in config.streams:
            task_id = f"pull_{stream.name}"
            task(
                task_id=task_id,
                multiple_outputs=False,
                doc_md=f"拉取数据流 (pull stream) `{stream.name}`, 每 (every) {stream.schedule}",
            )(tasks.pull_stream)(connector=config.name, stream=stream.name, turn=p.turns[task_id])
        if POLL_TASK in p.turns:
            task(
                task_id=POLL_TASK,
                multiple_outputs=False,
                doc_md="回读办理状态 (status poll) → 事件与回馈 (events and replies)",
            )(tasks.poll_feedback)(connector=config.name, turn=p.turns[POLL_TASK])
    return dag


def broken_dag(broken: Broken, dag_id: str | None = None) -> DAG:
    """A broken config shows as its own DAG, failing at once with the file, line and field."""
    message = f"配置错误 (config error): {broken.error}"
    with DAG(
        dag_id=dag_id or connector_dag_id(broken.path.stem),
        description=message[:200],
        doc_md=(
            f"### 连接器配置有误 (broken connector config) `{broken.path.name}`\n\n"
            f"```\n{broken.error}\n```\n\n"
            f"文件 (file): `{broken.error.path}`  \n行 (line): {broken.error.line or '—'}  \n"
            f"字段 (field): `{broken.error.field or '—'}`\n\n"
            "修正该文件后本 DAG 自动恢复；其他连接器不受影响。(Fix the file and this DAG "
            "comes back by itself; other connectors are not affected.) 检查 (check): "
            f"`jingkai connectors check {broken.path.stem}`"
        ),
        # Runs once as soon as it appears (and daily while broken) so the failure is seen.
        schedule=CronTriggerTimetable("0 8 * * *", timezone=TIMEZONE, run_immediately=True),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "jingkai", "retries": 0},
        tags=["config_error", "connector"],
    ) as dag:
        task(task_id="config_error", multiple_outputs=False)(tasks.config_error)(message=message)
    return dag


def connector_dags(settings: Settings | None = None) -> dict[str, DAG]:
    """Every connector's DAG by id. When Airflow parses the file to run one task, only that
    connector is read (the parsing context names the DAG)."""
    settings = settings or Settings.from_env()
    wanted_id = get_parsing_context().dag_id
    wanted: Callable[[Path], bool] | None = None
    if wanted_id and wanted_id.startswith(CONNECTOR_PREFIX):

        def wanted(path: Path) -> bool:
            return connector_dag_id(path.stem) == wanted_id

    units = load_units(settings.policies_dir)
    dags: dict[str, DAG] = {}
    if units.error is not None and wanted is None:
        # Tiers and the unit check are missing, but every connector still gets its DAG.
        dags[POLICIES_DAG] = broken_dag(Broken(Path(units.error.path), units.error), POLICIES_DAG)
    for item in scan(settings, units, wanted):
        dag = broken_dag(item) if isinstance(item, Broken) else connector_dag(item, units, settings)
        dags[dag.dag_id] = dag
    return dags


def _system_dag(dag_id: str, cron: str, description: str, doc_md: str, timeout: timedelta) -> DAG:
    return DAG(
        dag_id=dag_id,
        description=description,
        doc_md=doc_md,
        schedule=CronTriggerTimetable(cron, timezone=TIMEZONE),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timeout,
        default_args={**default_args("jingkai"), "execution_timeout": timeout},
        tags=["system"],
    )


def _sweep_task(which: str, doc: str) -> Callable[..., Any]:
    return task(task_id=which, multiple_outputs=False, doc_md=doc)(tasks.sweep)


def route_dispatch_dag() -> DAG:
    """Every minute: route orders left unrouted, then dispatch assignments left undelivered.

    The worker does both in well under a second; this sweep is the safety net."""
    with _system_dag(
        ROUTE_DISPATCH_DAG,
        "* * * * *",
        "分单与派单补偿 (route and dispatch sweep)",
        "### 分单与派单补偿 (route and dispatch sweep)\n\n"
        "每分钟一次 (every minute)：`route` 为已受理未分单的工单分单 (routes orders received "
        "but not routed)，`dispatch` 把到期未送达的派单送往各单位系统 (delivers assignments "
        "whose retry time has come)。实时处理由工作进程完成，本 DAG 是安全网 (the worker does "
        "this in real time; this is the safety net). 同 `jingkai sweep route dispatch`。",
        timedelta(minutes=10),
    ) as dag:
        route = _sweep_task("route", "分单 (route): `jingkai sweep route`")(which="route")
        dispatch = _sweep_task("dispatch", "派单 (dispatch): `jingkai sweep dispatch`")(
            which="dispatch"
        )
        route >> dispatch
    return dag


def supervise_dag() -> DAG:
    """Every 5 minutes: warn, urge, escalate and count overdue days (督促、督办)."""
    with _system_dag(
        SUPERVISE_DAG,
        "*/5 * * * *",
        "督办巡检 (supervision sweep)",
        "### 督办巡检 (supervision sweep)\n\n每 5 分钟 (every 5 minutes)：临期预警、当日催办、"
        "超期督办并计超期工作日 (warn, urge, escalate, count overdue working days)。"
        "同 `jingkai sweep supervise`。",
        timedelta(minutes=20),
    ) as dag:
        _sweep_task("supervise", "督办 (supervise): `jingkai sweep supervise`")(which="supervise")
    return dag


def daily_report_dag() -> DAG:
    """Daily at 00:30 China time: the report for the day before (or `day` from the run)."""
    with DAG(
        dag_id=DAILY_REPORT_DAG,
        description="每日报表 (daily report)",
        doc_md=(
            "### 每日报表 (daily report)\n\n每天 00:30（北京时间）生成前一天的报表 (builds the "
            "report of the previous China-time day)；手动触发时可填 `day` (YYYY-MM-DD) 指定日期 "
            "(a manual run may name the day)。由 `hub.services.reports.daily_report` 生成。"
        ),
        schedule=CronTriggerTimetable("30 0 * * *", timezone=TIMEZONE),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        default_args=default_args("jingkai"),
        params={
            "day": Param(
                None,
                type=["null", "string"],
                description="报表日期 YYYY-MM-DD，空为前一天 (report day; empty: yesterday)",
            )
        },
        tags=["system", "report"],
    ) as dag:
        task(task_id="daily_report", multiple_outputs=False)(tasks.daily_report)()
    return dag
