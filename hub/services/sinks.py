"""Where pulled records go: each canonical target has one sink writing into the store.

A sink runs in the caller's transaction (with the dead letters and the new cursor), and
re-pulling the same records writes nothing new: orders are deduplicated by their source's
external id, matters by content hash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection

from hub.mapping.targets import StatusUpdate
from hub.model.service_matter import Case, ServiceMatter
from hub.model.work_order import WorkOrderSubmission
from hub.services.cases import judge_waiting_cases, store_case_batch
from hub.services.catalogue import Catalogue
from hub.services.intake import IntakeError, NewOrder, check_submission, receive_many
from hub.store.matters import encode_matters, upsert_matters
from hub.workflow.calendar import WorkingCalendar


@dataclass
class SinkResult:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    # (index in the batch, field path, reason): records the store refused, for dead letters
    rejected: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class SinkContext:
    source: str
    catalogue: Catalogue
    now: datetime
    response_minutes: int = 30
    #: Working days for case deadlines; None: the configured policies' calendar.
    calendar: WorkingCalendar | None = None
    #: What the target's PREPARERS entry worked out from these records beforehand, one
    #: item per record (so that several pages' preparations can be joined).
    prepared: Sequence[Any] | None = None


Sink = Callable[[Connection, Sequence[BaseModel], SinkContext], SinkResult]


def store_work_orders(
    conn: Connection, records: Sequence[BaseModel], context: SinkContext
) -> SinkResult:
    """New orders from a channel system (e.g. the hotline centre); known ids are skipped."""
    result = SinkResult()
    accepted: list[tuple[int, NewOrder]] = []
    for index, record in enumerate(records):
        assert isinstance(record, WorkOrderSubmission)
        try:
            check_submission(record, context.catalogue)
        except IntakeError as exc:
            result.rejected.append((index, _field_of(exc), exc.message))
            continue
        accepted.append((index, NewOrder(record, f"connector:{context.source}")))
    outcomes = receive_many(
        conn,
        [order for _, order in accepted],
        catalogue=context.catalogue,
        now=context.now,
        response_minutes=context.response_minutes,
    )
    for (index, _), outcome in zip(accepted, outcomes, strict=True):
        if not isinstance(outcome, IntakeError):
            result.inserted += 1
        elif outcome.code == "duplicate_external_id":
            result.unchanged += 1
        else:
            result.rejected.append((index, _field_of(outcome), outcome.message))
    return result


def _field_of(error: IntakeError) -> str:
    details = error.details
    if isinstance(details, list) and details:
        return str(details[0].get("field", ""))
    return ""


def store_matters(
    conn: Connection, records: Sequence[BaseModel], context: SinkContext
) -> SinkResult:
    matters = [r for r in records if isinstance(r, ServiceMatter)]
    encoded = context.prepared if len(matters) == len(records) else None
    counts = upsert_matters(conn, matters, source=context.source, now=context.now, encoded=encoded)
    if counts.written:  # cases that came before their matter can be judged now
        codes = [m.implementation_code for m in counts.written]
        judge_waiting_cases(conn, codes, context.now, context.calendar)
    return SinkResult(counts.inserted, counts.changed, counts.unchanged)


def store_cases(conn: Connection, records: Sequence[BaseModel], context: SinkContext) -> SinkResult:
    """Cases (办件), each judged against the matter version in force at its acceptance."""
    batch = [r for r in records if isinstance(r, Case)]
    counts = store_case_batch(
        conn, batch, source=context.source, now=context.now, calendar=context.calendar
    )
    return SinkResult(counts.inserted, counts.changed, counts.unchanged)


def store_status_updates(
    conn: Connection, records: Sequence[BaseModel], context: SinkContext
) -> SinkResult:
    """Status changes pulled incrementally from a department system (反馈): each becomes
    the unit's sign/progress/return/feedback on the assignment with that external id."""
    from hub.services.clock import default_clock
    from hub.services.feedback import apply_update

    clock = default_clock()
    result = SinkResult()
    for record in records:
        if not isinstance(record, StatusUpdate):  # pragma: no cover - checked at load
            continue
        outcome = apply_update(conn, context.source, record, clock, context.now)
        if outcome == "applied":
            result.changed += 1
        else:  # unchanged, or a task the hub did not dispatch (other senders use the OA too)
            result.unchanged += 1
    return result


SINKS: dict[str, Sink] = {
    "status_update": store_status_updates,
    "work_order": store_work_orders,
    "service_matter": store_matters,
    "case": store_cases,
}

#: Work a sink would do on the records alone, without the store, one item per record: a
#: sync does it in the thread that maps (beside the writer thread) and hands it over as
#: SinkContext.prepared.
PREPARERS: dict[str, Callable[[Sequence[BaseModel]], list[Any]]] = {
    "service_matter": lambda records: encode_matters(
        [r for r in records if isinstance(r, ServiceMatter)]
    ),
}

#: Targets whose records are keyed (this field) and stored idempotently: a re-sync skips
#: records whose raw form was stored before, without mapping them (hub.store.fingerprints).
FINGERPRINT_KEYS: dict[str, str] = {
    "service_matter": "implementation_code",
    "case": "case_no",
}
