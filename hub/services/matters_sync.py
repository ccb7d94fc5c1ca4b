"""The matter catalogue as departments must keep it: sync entry points and completeness.

Departments that list matters on the Hebei network must keep them complete and current
(DOMAIN.md §1). The sync itself is the connector's stream (hub.services.sync with the
service_matter sink: versions, content hash, search rows); this module adds what the
programme asks on top: a full reconciliation when wanted, and a per-department list of
what each must fix — required fields missing, limits that contradict each other, and
entries nobody has touched for longer than the configured number of days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from hub.config import Settings
from hub.services.connectors import stream_puller
from hub.services.sync import PullResult
from hub.store.db import transaction
from hub.store.fingerprints import forget
from hub.store.schema import service_matters, sync_cursors

#: Entries not changed at the source for longer than this are "not current" (配置项).
DEFAULT_STALE_DAYS = 365

#: Field → what a department must fill in (GB/T 39046 fields the exchange carries).
REQUIRED_FIELDS: dict[str, str] = {
    "basic_code": "基本编码 (basic code)",
    "name": "事项名称 (matter name)",
    "matter_type": "事项类型 (matter type)",
    "use_level": "行使层级 (level of exercise)",
    "unit_name": "实施主体 (implementing body)",
    "unit_code": "实施主体对应的本区单位 (the district unit of the implementing body)",
    "legal_limit": "法定办结时限 (legal time limit)",
    "promised_limit": "承诺办结时限 (promised time limit)",
}

PROBLEMS = {
    "missing": "缺少必填项 (required field missing)",
    "online_url_missing": "支持网办但缺少网办地址 (online handling without its address)",
    "promise_exceeds_legal": "承诺时限长于法定时限 (promised limit longer than the legal one)",
    "stale": "超过 {days} 天未更新 (not updated within {days} days)",
}


def sync_stream(
    settings: Settings,
    engine: Engine,
    connector: str = "hebei_network",
    stream: str = "matters",
    *,
    full: bool = False,
) -> PullResult:
    """Pull one catalogue stream (matters or cases) through the shipped connector.

    `full`: forget the cursor and the fingerprints first, so every record is read,
    mapped and compared again (a reconciliation; still nothing is written when unchanged).
    """
    puller = stream_puller(settings, engine, connector, stream)
    try:
        if full:
            with transaction(engine) as conn:
                conn.execute(
                    delete(sync_cursors).where(
                        (sync_cursors.c.connector == connector) & (sync_cursors.c.stream == stream)
                    )
                )
                forget(conn, connector, stream)
        return puller.pull()
    finally:
        puller.adapter.close()


# --- completeness -------------------------------------------------------------------------


@dataclass
class Problem:
    code: str
    field: str | None
    message: str


@dataclass
class MatterToFix:
    implementation_code: str
    name: str
    problems: list[Problem] = field(default_factory=list)


@dataclass
class UnitFixList:
    """One department's list: how many matters it has in use, and what to fix."""

    unit_code: str | None
    unit_name: str
    active: int = 0
    matters: list[MatterToFix] = field(default_factory=list)

    @property
    def complete(self) -> int:
        return self.active - len(self.matters)

    @property
    def rate(self) -> float | None:
        return round(self.complete / self.active, 4) if self.active else None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def check_matter(
    data: Mapping[str, Any], changed: datetime | None, now: datetime, stale_days: int
) -> list[Problem]:
    """What is wrong with one matter (its canonical JSON), empty when complete and current."""
    problems = [
        Problem("missing", name, f"{PROBLEMS['missing']}: {label}")
        for name, label in REQUIRED_FIELDS.items()
        if _empty(data.get(name))
    ]
    if data.get("online") and _empty(data.get("online_url")):
        problems.append(Problem("online_url_missing", "online_url", PROBLEMS["online_url_missing"]))
    legal, promised = data.get("legal_limit") or {}, data.get("promised_limit") or {}
    if (
        legal.get("value") is not None
        and promised.get("value") is not None
        and legal.get("unit") == promised.get("unit")
        and promised["value"] > legal["value"]
    ):
        problems.append(
            Problem("promise_exceeds_legal", "promised_limit", PROBLEMS["promise_exceeds_legal"])
        )
    if changed is not None and now - changed > timedelta(days=stale_days):
        message = PROBLEMS["stale"].format(days=stale_days)
        problems.append(Problem("stale", "changed_at", message))
    return problems


def completeness(
    conn: Connection,
    *,
    now: datetime,
    unit_code: str | None = None,
    stale_days: int = DEFAULT_STALE_DAYS,
    unit_names: Mapping[str, str] | None = None,
) -> list[UnitFixList]:
    """Per department, the matters in use and what each must fix (worst lists first)."""
    m = service_matters.c
    query = select(m.implementation_code, m.unit_code, m.unit_name, m.data, m.changed_at).where(
        m.status == "active"
    )
    if unit_code is not None:
        query = query.where(m.unit_code == unit_code)
    lists: dict[str | None, UnitFixList] = {}
    for code, unit, unit_name, data, changed in conn.execute(query):
        entry = lists.get(unit)
        if entry is None:
            shown = (unit_names or {}).get(unit or "", unit_name)
            entry = lists[unit] = UnitFixList(unit, shown)
        entry.active += 1
        problems = check_matter(data, changed, now, stale_days)
        if problems:
            entry.matters.append(MatterToFix(code, data.get("name", ""), problems))
    for entry in lists.values():
        entry.matters.sort(key=lambda x: x.implementation_code)
    return sorted(lists.values(), key=lambda x: (-len(x.matters), x.unit_code or "~"))


def completeness_rates(
    conn: Connection, *, now: datetime, stale_days: int = DEFAULT_STALE_DAYS
) -> dict[str | None, UnitFixList]:
    """Every unit's list, by unit code (the KPI reads the rate)."""
    return {entry.unit_code: entry for entry in completeness(conn, now=now, stale_days=stale_days)}


def fix_list_view(entries: Iterable[UnitFixList], stale_days: int) -> dict[str, Any]:
    items = [
        {
            "unit_code": e.unit_code,
            "unit_name": e.unit_name,
            "active": e.active,
            "complete": e.complete,
            "completeness_rate": e.rate,
            "to_fix": [
                {
                    "implementation_code": x.implementation_code,
                    "name": x.name,
                    "problems": [p.__dict__ for p in x.problems],
                }
                for x in e.matters
            ],
        }
        for e in entries
    ]
    return {"stale_days": stale_days, "items": items}
