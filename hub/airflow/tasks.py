"""What the Airflow tasks run: thin wrappers over the hub functions the CLI also calls.

Imports of hub services happen inside the functions, so parsing a DAG file stays cheap.
A config error fails the task at once (retrying cannot fix a file); any other error is
raised as is and Airflow retries it with backoff.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.airflow.schedules import TIMEZONE, is_turn
from hub.config import Settings
from hub.yamlconf import ConfigError

log = logging.getLogger(__name__)


def _settings() -> Settings:
    # Fresh from the environment: a task process must see the variables of its own run.
    return Settings.from_env()


def _run_moment(context: Any) -> datetime | None:
    when = context.get("logical_date")
    if when is None and context.get("dag_run") is not None:
        when = getattr(context["dag_run"], "run_after", None)
    return when if isinstance(when, datetime) else None


def skip_unless_turn(cron: str | None) -> None:
    """In a scheduled run, a task whose own schedule does not fire now is skipped."""
    if cron is None:
        return
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    context = get_current_context()
    dag_run = context.get("dag_run")
    run_type = getattr(dag_run, "run_type", None)
    if getattr(run_type, "value", run_type) != "scheduled":
        return  # manual, backfill and asset-triggered runs do everything
    when = _run_moment(context)
    if when is not None and not is_turn(cron, when):
        raise AirflowSkipException(f"本次不是该任务的调度时刻 (not this task's turn: {cron})")


def fail_config(exc: ConfigError) -> None:
    """A broken file: fail now, without retries, with the file, line and field."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(f"配置错误 (config error): {exc}") from exc


def mask_connection(conn_id: str | None) -> None:
    """Register a connector's secrets with Airflow's log masker, wherever they came from.

    Airflow masks what it hands out itself; the hub reads `AIRFLOW_CONN_<ID>` directly, so
    those values are registered here too before any hub code logs.
    """
    if not conn_id:
        return
    from airflow.sdk.log import mask_secret

    from hub.connectors.secrets import env_name, resolve_connection

    raw = os.environ.get(env_name(conn_id))
    if raw:
        mask_secret(raw, env_name(conn_id))
    try:
        found = resolve_connection(conn_id)
    except Exception:  # the hub call will say what is missing
        return
    if found.password:
        mask_secret(found.password, "password")
    if found.extra:
        mask_secret(found.extra)


def pull_stream(connector: str, stream: str, turn: str | None = None) -> dict[str, Any]:
    """One incremental sync of a stream into the store (`jingkai connectors pull`)."""
    skip_unless_turn(turn)
    from hub.services.connectors import load_one, stream_puller
    from hub.store.db import engine_for

    settings = _settings()
    try:
        config, _ = load_one(settings, connector)
        mask_connection(config.connection)
        puller = stream_puller(settings, engine_for(settings.database_url), connector, stream)
    except ConfigError as exc:
        fail_config(exc)
        raise  # unreachable: fail_config raises
    try:
        result = puller.pull()
    finally:
        puller.adapter.close()
    summary = dataclasses.asdict(result)
    log.info("%s/%s: %s", connector, stream, summary)
    return summary


def poll_feedback(connector: str, turn: str | None = None) -> dict[str, int]:
    """Read back the state of the tasks this connector's system still has open (回馈)."""
    skip_unless_turn(turn)
    from hub.services.connectors import load_one
    from hub.services.runtime import FlowRuntime
    from hub.store.db import engine_for

    settings = _settings()
    try:
        config, _ = load_one(settings, connector)
    except ConfigError as exc:
        fail_config(exc)
        raise
    mask_connection(config.connection)
    runtime = FlowRuntime(settings, engine_for(settings.database_url))
    try:
        done = runtime.sweep_feedback([connector]).done
    finally:
        runtime.close()
    log.info("%s feedback: %s", connector, done)
    return dict(done)


def sweep(which: str) -> dict[str, int]:
    """One flow sweep (`jingkai sweep <which>`): finish work left half done."""
    from hub.services.runtime import FlowRuntime
    from hub.store.db import engine_for

    settings = _settings()
    runtime = FlowRuntime(settings, engine_for(settings.database_url))
    try:
        done = runtime.sweep(which).done
    finally:
        runtime.close()
    log.info("sweep %s: %s", which, done or "nothing")
    return dict(done)


def report_day(context: Any) -> date:
    """The day a daily-report run covers: `day` from the run's conf or params, else the
    China-time day before the run."""
    for source in (getattr(context.get("dag_run"), "conf", None), context.get("params")):
        value = (source or {}).get("day") if hasattr(source or {}, "get") else None
        if value:
            return date.fromisoformat(str(value))
    when = _run_moment(context) or datetime.now(ZoneInfo(TIMEZONE))
    return when.astimezone(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)


def jsonable(value: Any) -> Any:
    """A report as XCom can store it (dataclass, pydantic model, mapping or text)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def daily_report() -> Any:
    """The daily report (日报) for the day before the run, by hub.services.reports."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    try:
        from hub.services.reports import daily_report as build  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise AirflowFailException(
            "日报功能尚未提供 (hub.services.reports.daily_report is not available yet)"
        ) from exc
    from hub.store.db import engine_for

    day = report_day(get_current_context())
    settings = _settings()
    result = build(settings, engine_for(settings.database_url), day)
    log.info("daily report %s done", day.isoformat())
    return jsonable(result)


def config_error(message: str) -> None:
    """The only task of a connector whose config is broken: fail with the file and field."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)
