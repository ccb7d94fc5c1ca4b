"""Cases (办件): upsert by case number, each with its judgement kept on the row.

The judgement (deadline, visits allowed, on time, flags) is made by the caller against
the matter version in force when the case was accepted; this module only stores it, finds
that version, and lists cases for the API and the KPIs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Connection, and_, bindparam, func, select

from hub.model.service_matter import Case, ServiceMatter
from hub.store.bulk import insert_many
from hub.store.schema import cases, service_matter_versions

_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class MatterVersion:
    """One stored version of a matter: what a case accepted under it is judged by."""

    version_no: int
    valid_from: datetime
    valid_to: datetime | None
    matter: ServiceMatter


JUDGEMENT_COLUMNS = (
    "matter_version_no", "unit_code", "promised_days", "due_at", "visits_allowed",
    "visits_ok", "on_time", "flags",
)  # fmt: skip


@dataclass(frozen=True)
class Judgement:
    """What the hub concludes about a case (see hub.services.cases.judge_case)."""

    matter_version_no: int | None
    unit_code: str | None
    promised_days: int | None
    due_at: datetime | None
    visits_allowed: int | None
    visits_ok: bool | None
    on_time: bool | None
    flags: list[str] = field(default_factory=list)

    def columns(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in JUDGEMENT_COLUMNS}


@dataclass
class CaseCounts:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0


Judge = Callable[[Case, "MatterHistory"], Judgement]


class MatterHistory:
    """Versions of the matters a batch of cases refers to, loaded once per batch."""

    def __init__(self, conn: Connection, codes: Sequence[str]) -> None:
        self._versions: dict[str, list[MatterVersion]] = {}
        v = service_matter_versions.c
        wanted = sorted(set(codes))
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            rows = conn.execute(
                select(v.implementation_code, v.version_no, v.valid_from, v.valid_to, v.data)
                .where(v.implementation_code.in_(wanted[start : start + _LOOKUP_CHUNK]))
                .order_by(v.implementation_code, v.version_no)
            )
            for code, number, valid_from, valid_to, data in rows:
                self._versions.setdefault(code, []).append(
                    MatterVersion(number, valid_from, valid_to, ServiceMatter.model_validate(data))
                )

    def versions(self, code: str) -> list[MatterVersion]:
        return self._versions.get(code, [])

    def in_force(self, code: str, moment: datetime) -> tuple[MatterVersion | None, bool]:
        """The version in force at `moment`, and whether it is only the earliest known one
        (the case predates the first version the hub has seen)."""
        versions = self.versions(code)
        if not versions:
            return None, False
        current = [x for x in versions if x.valid_from <= moment]
        if current:
            return current[-1], False
        return versions[0], True


def case_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(to_json(data)).hexdigest()


def _row(case: Case, data: dict[str, Any], digest: str, judgement: Judgement) -> dict[str, Any]:
    return {
        "case_no": case.case_no,
        "implementation_code": case.implementation_code,
        "channel": case.channel.value,
        "case_type": case.case_type.value,
        "applied_at": case.applied_at,
        "accepted_at": case.accepted_at,
        "promised_at": case.promised_at,
        "finished_at": case.finished_at,
        "result": case.result,
        "visits": case.visits,
        "satisfaction": case.evaluation.satisfaction.value if case.evaluation else None,
        "data": data,
        "content_hash": digest,
        **judgement.columns(),
    }


_UPDATE = (
    cases.update()
    .where(cases.c.case_no == bindparam("key"))
    .values(
        {
            column: bindparam(f"new_{column}")
            for column in (
                "implementation_code", "channel", "case_type", "applied_at", "accepted_at",
                "promised_at", "finished_at", "result", "visits", "satisfaction", "data",
                "content_hash", "matter_version_no", "unit_code", "promised_days", "due_at",
                "visits_allowed", "visits_ok", "on_time", "flags", "source", "updated_at",
            )
        }
    )
)  # fmt: skip


def upsert_cases(
    conn: Connection, batch: Sequence[Case], judge: Judge, *, source: str, now: datetime
) -> CaseCounts:
    """Insert new cases, update changed ones (judged again), skip unchanged ones."""
    counts = CaseCounts()
    latest = {c.case_no: c for c in batch}
    known: dict[str, str] = {}
    numbers = list(latest)
    for start in range(0, len(numbers), _LOOKUP_CHUNK):
        rows = conn.execute(
            select(cases.c.case_no, cases.c.content_hash).where(
                cases.c.case_no.in_(numbers[start : start + _LOOKUP_CHUNK])
            )
        )
        known.update({number: digest for number, digest in rows})
    fresh: list[tuple[Case, dict[str, Any], str]] = []
    for case in latest.values():
        data = case.model_dump(mode="json")
        digest = case_hash(data)
        if known.get(case.case_no) == digest:
            counts.unchanged += 1
        else:
            fresh.append((case, data, digest))
    history = MatterHistory(conn, [case.implementation_code for case, _, _ in fresh])
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for case, data, digest in fresh:
        row = _row(case, data, digest, judge(case, history))
        if case.case_no not in known:
            inserts.append(row | {"source": source, "created_at": now, "updated_at": now})
            counts.inserted += 1
        else:
            updates.append(
                {"key": case.case_no, "new_source": source, "new_updated_at": now}
                | {f"new_{k}": v for k, v in row.items() if k != "case_no"}
            )
            counts.changed += 1
    counts.unchanged += len(batch) - len(latest)
    if inserts:
        insert_many(conn, cases, inserts)
    if updates:
        conn.execute(_UPDATE, updates)
    return counts


def rejudge(
    conn: Connection, judge: Judge, *, codes: Sequence[str] | None = None, now: datetime
) -> int:
    """Judge again the cases whose matter was unknown when they arrived (of these matters)."""
    c = cases.c
    query = select(c.case_no, c.data).where(c.matter_version_no.is_(None))
    if codes is not None:
        if not codes:
            return 0
        query = query.where(c.implementation_code.in_(sorted(set(codes))))
    waiting = [Case.model_validate(data) for _, data in conn.execute(query)]
    if not waiting:
        return 0
    history = MatterHistory(conn, [x.implementation_code for x in waiting])
    updates = []
    for case in waiting:
        judgement = judge(case, history)
        if judgement.matter_version_no is None:
            continue
        updates.append(
            {"key": case.case_no, "new_updated_at": now}
            | {f"new_{k}": v for k, v in judgement.columns().items()}
        )
    if updates:
        conn.execute(
            cases.update()
            .where(c.case_no == bindparam("key"))
            .values(
                {
                    column: bindparam(f"new_{column}")
                    for column in (*JUDGEMENT_COLUMNS, "updated_at")
                }
            ),
            updates,
        )
    return len(updates)


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFilter:
    unit_code: str | None = None
    implementation_code: str | None = None
    flag: str | None = None
    accepted_from: datetime | None = None
    accepted_to: datetime | None = None
    finished_from: datetime | None = None
    finished_to: datetime | None = None


def _where(case_filter: CaseFilter) -> Any:
    c = cases.c
    conditions = []
    if case_filter.unit_code:
        conditions.append(c.unit_code == case_filter.unit_code)
    if case_filter.implementation_code:
        conditions.append(c.implementation_code == case_filter.implementation_code)
    if case_filter.accepted_from:
        conditions.append(c.accepted_at >= case_filter.accepted_from)
    if case_filter.accepted_to:
        conditions.append(c.accepted_at < case_filter.accepted_to)
    if case_filter.finished_from:
        conditions.append(c.finished_at >= case_filter.finished_from)
    if case_filter.finished_to:
        conditions.append(c.finished_at < case_filter.finished_to)
    if case_filter.flag == "extra_visit":
        conditions.append(c.visits_ok.is_(False))
    elif case_filter.flag == "late":
        conditions.append(c.on_time.is_(False))
    elif case_filter.flag == "matter_unknown":
        conditions.append(c.matter_version_no.is_(None))
    return and_(*conditions) if conditions else None


def list_cases(
    conn: Connection, case_filter: CaseFilter, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """A page of case rows (newest accepted first) and the total."""
    where = _where(case_filter)
    count = select(func.count()).select_from(cases)
    query = select(cases)
    if where is not None:
        count, query = count.where(where), query.where(where)
    total = conn.execute(count).scalar_one()
    rows = conn.execute(
        query.order_by(cases.c.accepted_at.desc(), cases.c.case_no).limit(limit).offset(offset)
    ).mappings()
    return total, [dict(r) for r in rows]


def get_case(conn: Connection, case_no: str) -> dict[str, Any] | None:
    row = conn.execute(select(cases).where(cases.c.case_no == case_no)).mappings().first()
    return dict(row) if row is not None else None


def case_rows(conn: Connection, case_filter: CaseFilter) -> list[dict[str, Any]]:
    """Every matching row, for the KPIs (the columns they read, not the case data)."""
    c = cases.c
    query = select(
        c.case_no,
        c.unit_code,
        c.accepted_at,
        c.finished_at,
        c.due_at,
        c.visits,
        c.visits_allowed,
        c.visits_ok,
        c.on_time,
        c.satisfaction,
    )
    where = _where(case_filter)
    if where is not None:
        query = query.where(where)
    return [dict(r) for r in conn.execute(query).mappings()]
