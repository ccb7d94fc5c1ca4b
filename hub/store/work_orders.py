"""Work-order repository: rows in and out of the store, one transaction per unit of work."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    tuple_,
)

from hub.model.base import to_local
from hub.model.codes import WorkOrderState
from hub.model.work_order import Assignment, Event, NewEvent, Origin, SlaDeadlines, WorkOrder
from hub.store.bulk import insert_many
from hub.store.schema import assignments, events, work_orders


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def wo_no_prefix(created_at: datetime) -> str:
    return f"JK{to_local(created_at):%Y%m%d}"


def format_serial(serial: int) -> str:
    return f"{serial:07d}"


_NEXT_SQLITE = text(
    "UPDATE counters SET value = value + :n WHERE name = 'work_order' RETURNING value"
)
_NEXT_POSTGRES = text("SELECT nextval('work_order_seq') FROM generate_series(1, :n)")


def allocate_serials(conn: Connection, count: int) -> list[int]:
    """Reserve `count` serial numbers inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        return [int(v) for v in conn.execute(_NEXT_POSTGRES, {"n": count}).scalars()]
    last = int(conn.execute(_NEXT_SQLITE, {"n": count}).scalar_one())
    return list(range(last - count + 1, last + 1))


def insert_work_orders(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows already carry their wo_no (see allocate_serials); one statement for all."""
    insert_many(conn, work_orders, rows, one_statement=True)


def event_row(wo_no: str, seq: int, event: NewEvent, at: datetime) -> dict[str, Any]:
    return {
        "wo_no": wo_no,
        "seq": seq,
        "at": at,
        "actor": event.actor,
        "action": event.action.value,
        "state_before": event.state_before.value if event.state_before else None,
        "state_after": event.state_after.value if event.state_after else None,
        "public": event.public,
        "note": event.note,
        "unit_code": event.unit_code,
        "data": event.data,
    }


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One statement for all (each statement costs the writer a GIL hand-back)."""
    insert_many(conn, events, rows, one_statement=True)


def append_event(
    conn: Connection, wo_no: str, event: NewEvent, at: datetime, seq: int | None = None
) -> int:
    """Append to the timeline/audit trail; seq is computed unless the caller knows it."""
    if seq is None:
        seq = (
            conn.execute(
                select(func.coalesce(func.max(events.c.seq), 0)).where(events.c.wo_no == wo_no)
            ).scalar_one()
            + 1
        )
    insert_events(conn, [event_row(wo_no, seq, event, at)])
    return seq


def _row_to_order(
    row: Any,
    assigned: list[Assignment],
    children: list[str] | None = None,
    merged: list[str] | None = None,
) -> WorkOrder:
    return WorkOrder(
        wo_no=row.wo_no,
        status=WorkOrderState(row.status),
        origin=Origin(
            channel=row.channel,
            source_system=row.source_system,
            external_id=row.external_id,
            source_hotline=row.source_hotline,
        ),
        appeal_type=row.appeal_type,
        category_code=row.category_code,
        section_code=row.section_code,
        title=row.title,
        content=row.content,
        urgency=row.urgency,
        location=row.location,
        requester=row.requester,
        matter_code=row.matter_code,
        attachments=row.attachments,
        attributes=row.attributes,
        occurred_at=row.occurred_at,
        assignments=assigned,
        sla=SlaDeadlines.model_validate(row.sla),
        reply=row.reply,
        revisit=row.revisit,
        parent_wo_no=row.parent_wo_no,
        duplicate_of=row.duplicate_of,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        version=row.version,
        triage_queue=row.triage_queue,
        supervision=row.supervision or {},
        children=children or [],
        merged=merged or [],
    )


#: Columns a row has only once the order moves on (absent from a newly received row).
_LATER_COLUMNS = (
    "reply",
    "revisit",
    "parent_wo_no",
    "duplicate_of",
    "closed_at",
    "triage_queue",
    "supervision",
)


def order_from_row(row: Mapping[str, Any]) -> WorkOrder:
    """The order a new row holds (one the intake built: received, no assignments or linked
    orders yet), without writing or reading it."""
    return _row_to_order(SimpleNamespace(**dict.fromkeys(_LATER_COLUMNS), **row), [])


# Built once: a statement built per call costs more than running it (a bus batch of one
# order reads through all of these).
_ASSIGNMENTS_OF = (
    select(assignments)
    .where(assignments.c.wo_no.in_(bindparam("wo_nos", expanding=True)))
    .order_by(assignments.c.id)
)
_ORDERS_IN = select(work_orders).where(work_orders.c.wo_no.in_(bindparam("wo_nos", expanding=True)))
_LINKED_TO_ANY = (
    select(work_orders.c.wo_no, work_orders.c.parent_wo_no, work_orders.c.duplicate_of)
    .where(
        or_(
            work_orders.c.parent_wo_no.in_(bindparam("parents", expanding=True)),
            work_orders.c.duplicate_of.in_(bindparam("originals", expanding=True)),
        )
    )
    .order_by(work_orders.c.id)
)


def _assignments_of(conn: Connection, wo_nos: list[str]) -> dict[str, list[Assignment]]:
    found: dict[str, list[Assignment]] = {wo_no: [] for wo_no in wo_nos}
    if not wo_nos:
        return found
    for row in conn.execute(_ASSIGNMENTS_OF, {"wo_nos": wo_nos}).mappings():
        found[row["wo_no"]].append(assignment_from_row(row))
    return found


#: Columns of an assignments row that its model does not hold.
_ROW_ONLY = ("wo_no", "created_at", "updated_at")
_ASSIGNMENT_COLUMNS = tuple(c.name for c in assignments.c if c.name not in _ROW_ONLY)


def assignment_from_row(row: Mapping[Any, Any]) -> Assignment:
    """The model of an assignments row (read back, or as just inserted with its id)."""
    return Assignment.model_validate({name: row.get(name) for name in _ASSIGNMENT_COLUMNS})


_ASSIGNMENT_IDS = select(
    assignments.c.id, assignments.c.wo_no, assignments.c.unit_code, assignments.c.dispatch_key
).where(assignments.c.wo_no.in_(bindparam("wo_nos", expanding=True)))


def assignment_ids(conn: Connection, wo_nos: list[str]) -> dict[tuple[str, str, str], int]:
    """(order, unit, dispatch key) → id of the orders' assignments: the ids of rows just
    inserted in bulk, where the driver gives none back."""
    rows = conn.execute(_ASSIGNMENT_IDS, {"wo_nos": wo_nos})
    return {(row.wo_no, row.unit_code, row.dispatch_key): int(row.id) for row in rows}


_ORDER_BY_NO = select(work_orders).where(work_orders.c.wo_no == bindparam("wo_no"))
_LINKED = (
    select(work_orders.c.wo_no, work_orders.c.parent_wo_no)
    .where(
        or_(
            work_orders.c.parent_wo_no == bindparam("wo_no"),
            work_orders.c.duplicate_of == bindparam("wo_no"),
        )
    )
    .order_by(work_orders.c.id)
)


def get_work_order(conn: Connection, wo_no: str) -> WorkOrder | None:
    row = conn.execute(_ORDER_BY_NO, {"wo_no": wo_no}).first()
    if row is None:
        return None
    children: list[str] = []
    merged: list[str] = []
    for linked in conn.execute(_LINKED, {"wo_no": wo_no}):
        (children if linked.parent_wo_no == wo_no else merged).append(linked.wo_no)
    return _row_to_order(row, _assignments_of(conn, [wo_no])[wo_no], children, merged)


def get_work_orders(conn: Connection, wo_nos: list[str]) -> dict[str, WorkOrder]:
    """Many orders in four queries (a batch of bus messages), keyed by number; the
    missing ones are left out."""
    wanted = list(dict.fromkeys(wo_nos))
    if not wanted:
        return {}
    rows = conn.execute(_ORDERS_IN, {"wo_nos": wanted}).all()
    if not rows:
        return {}
    found = [row.wo_no for row in rows]
    children: dict[str, list[str]] = {wo_no: [] for wo_no in found}
    merged: dict[str, list[str]] = {wo_no: [] for wo_no in found}
    linked = conn.execute(_LINKED_TO_ANY, {"parents": found, "originals": found})
    for link in linked:
        if link.parent_wo_no in children:
            children[link.parent_wo_no].append(link.wo_no)
        if link.duplicate_of in merged and link.duplicate_of != link.parent_wo_no:
            merged[link.duplicate_of].append(link.wo_no)
    assigned = _assignments_of(conn, found)
    return {
        row.wo_no: _row_to_order(row, assigned[row.wo_no], children[row.wo_no], merged[row.wo_no])
        for row in rows
    }


def get_query_code_hash(conn: Connection, wo_no: str) -> str | None:
    return conn.execute(
        select(work_orders.c.query_code_hash).where(work_orders.c.wo_no == wo_no)
    ).scalar_one_or_none()


def find_by_external_ids(
    conn: Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(source_system, external_id) → wo_no for those already received."""
    if not keys:
        return {}
    c = work_orders.c
    rows = conn.execute(
        select(c.source_system, c.external_id, c.wo_no).where(
            tuple_(c.source_system, c.external_id).in_(keys)
        )
    )
    return {(r.source_system, r.external_id): r.wo_no for r in rows}


def find_by_open311_token(conn: Connection, token: str) -> str | None:
    return conn.execute(
        select(work_orders.c.wo_no).where(work_orders.c.open311_token == token)
    ).scalar_one_or_none()


def list_events(conn: Connection, wo_no: str, public_only: bool) -> list[Event]:
    query = select(events).where(events.c.wo_no == wo_no).order_by(events.c.seq)
    if public_only:
        query = query.where(events.c.public.is_(True))
    return [
        Event.model_validate({k: v for k, v in row.items() if k not in ("id", "wo_no")})
        for row in conn.execute(query).mappings()
    ]


@dataclass(frozen=True)
class OrderFilter:
    statuses: list[str] = field(default_factory=list)
    appeal_types: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    unit_code: str | None = None
    region_prefix: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    wo_nos: list[str] = field(default_factory=list)
    text: str | None = None


def _filtered(query: Select[Any], f: OrderFilter) -> Select[Any]:
    c = work_orders.c
    conditions: list[ColumnElement[bool]] = []
    if f.statuses:
        conditions.append(c.status.in_(f.statuses))
    if f.appeal_types:
        conditions.append(c.appeal_type.in_(f.appeal_types))
    if f.categories:
        conditions.append(c.category_code.in_(f.categories))
    if f.channels:
        conditions.append(c.channel.in_(f.channels))
    if f.wo_nos:
        conditions.append(c.wo_no.in_(f.wo_nos))
    if f.region_prefix:
        conditions.append(c.region_code.startswith(f.region_prefix, autoescape=True))
    if f.created_from:
        conditions.append(c.created_at >= f.created_from)
    if f.created_to:
        conditions.append(c.created_at <= f.created_to)
    if f.updated_from:
        conditions.append(c.updated_at >= f.updated_from)
    if f.updated_to:
        conditions.append(c.updated_at <= f.updated_to)
    if f.text:
        conditions.append(c.title.contains(f.text, autoescape=True))
    if f.unit_code:
        conditions.append(
            c.wo_no.in_(select(assignments.c.wo_no).where(assignments.c.unit_code == f.unit_code))
        )
    return query.where(and_(*conditions)) if conditions else query


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Raises ValueError for anything that is not a cursor this API handed out."""
    padded = cursor + "=" * (-len(cursor) % 4)
    text = base64.urlsafe_b64decode(padded.encode()).decode()
    if not text.startswith("id:"):
        raise ValueError("bad cursor")
    return int(text[3:])


def list_work_orders(
    conn: Connection, f: OrderFilter, limit: int, before_id: int | None = None
) -> tuple[list[WorkOrder], int | None]:
    """Newest first, keyset-paged; returns the page and the id to continue before."""
    query = _filtered(select(work_orders), f).order_by(work_orders.c.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(work_orders.c.id < before_id)
    rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    assigned = _assignments_of(conn, [r.wo_no for r in rows])
    orders = [_row_to_order(r, assigned[r.wo_no]) for r in rows]
    return orders, (rows[-1].id if more and rows else None)


def count_work_orders(conn: Connection, f: OrderFilter) -> int:
    return conn.execute(_filtered(select(func.count()).select_from(work_orders), f)).scalar_one()
