"""Run a workflow decision against the store: read, decide, write, all in one transaction.

The pure rules in hub.workflow.actions describe a `Change`; this module writes it — the
order row (guarded by its version, so two writers never both win), the assignments, the
events and the outbox messages — so a crash leaves either all of it or none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, Table

from hub.model.base import utcnow
from hub.model.codes import AssignmentState, DeliveryState
from hub.model.work_order import WorkOrder
from hub.services.preclaims import PreClaims
from hub.store import work_orders as repo
from hub.store.bulk import insert_many, select_in, update_rows
from hub.store.db import after_commit, savepoint, transaction
from hub.store.outbox import insert_outbox, outbox_row
from hub.store.schema import assignments, events, work_orders
from hub.workflow.actions import Change

Decide = Callable[[Connection, WorkOrder], Change]


class NotFound(LookupError):
    """No such work order."""


class Conflict(RuntimeError):
    """Another writer changed the order first; read it again and decide again."""


#: A new order's row and its first event's row, as the intake built them.
NewRows = tuple[dict[str, Any], dict[str, Any]]


def _column(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def _dispatch_keys(decided: Sequence[tuple[WorkOrder, Change]]) -> dict[tuple[str, str], int]:
    """How many assignments each (order, unit) has had, for those about to get another: as
    read with the order (all its assignments; the version guard fails the write if any
    were added since)."""
    return Counter(
        (order.wo_no, assignment.unit_code)
        for order, change in decided
        if any(plan.dispatch_key is None for plan in change.new_assignments)
        for assignment in order.assignments
    )


def _assignment_rows(
    decided: Sequence[tuple[WorkOrder, Change]],
    now: datetime,
    claims: PreClaims | None = None,
) -> list[dict[str, Any]]:
    """The new assignments' rows; the dispatch key is the work-order number, with -2, -3 …
    when the same unit gets the order again. With `claims`, each is created already leased
    to this process's dispatcher (see hub.services.preclaims)."""
    earlier = _dispatch_keys(decided)
    rows: list[dict[str, Any]] = []
    for order, change in decided:
        for plan in change.new_assignments:
            key = plan.dispatch_key
            if key is None:
                seen = earlier.get((order.wo_no, plan.unit_code), 0)
                earlier[(order.wo_no, plan.unit_code)] = seen + 1
                key = order.wo_no if seen == 0 else f"{order.wo_no}-{seen + 1}"
            rows.append(
                {
                    "wo_no": order.wo_no,
                    "unit_code": plan.unit_code,
                    "role": plan.role.value,
                    "state": AssignmentState.PENDING.value,
                    "delivery_state": DeliveryState.PENDING.value,
                    "connector": plan.connector,
                    "due_at": plan.due_at,
                    "return_count": 0,
                    "attempts": 0,
                    "dispatch_key": key,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if claims is not None:
                rows[-1].update(
                    delivery_state=DeliveryState.SENT.value,
                    attempts=1,
                    next_attempt_at=now + claims.lease(plan.connector),
                )
    if claims is not None:
        claims.add((row["wo_no"], row["unit_code"], row["dispatch_key"]) for row in rows)
    return rows


def _update_many(
    conn: Connection, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]
) -> int:
    """One UPDATE for rows setting the same columns (`v_<column>`), matched on the `keys`
    columns (`b_<column>`), through the driver (a record's statements run while the writer
    lock is held); returns the rows written."""
    columns = sorted(name[2:] for name in rows[0] if name.startswith("v_"))
    pick = itemgetter(*(f"v_{c}" for c in columns), *(f"b_{k}" for k in keys))
    return update_rows(conn, table, keys, columns, [pick(row) for row in rows])


def _grouped(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())


def _write_orders(
    conn: Connection, decided: Sequence[tuple[WorkOrder, Change]], now: datetime
) -> None:
    rows = []
    for order, change in decided:
        values: dict[str, Any] = {
            "status": change.status.value,
            "updated_at": now,
            "version": order.version + 1,
        }
        values.update({key: _column(value) for key, value in change.fields.items()})
        row = {f"v_{key}": value for key, value in values.items()}
        rows.append({**row, "b_wo_no": order.wo_no, "b_version": order.version})
    for group in _grouped(rows):
        if _update_many(conn, work_orders, ("wo_no", "version"), group) != len(group):
            raise Conflict(", ".join(row["b_wo_no"] for row in group))


def _write_assignment_updates(
    conn: Connection, decided: Sequence[tuple[WorkOrder, Change]], now: datetime
) -> None:
    rows = [
        {**{f"v_{k}": v for k, v in fields.items()}, "v_updated_at": now, "b_id": assignment_id}
        for _, change in decided
        for assignment_id, fields in change.assignment_updates.items()
    ]
    for group in _grouped(rows):
        _update_many(conn, assignments, ("id",), group)


def _event_rows(
    conn: Connection, decided: Sequence[tuple[WorkOrder, Change]], now: datetime
) -> list[dict[str, Any]]:
    """Each order's own events, then the events it adds to related orders, numbered on."""
    wanted = {order.wo_no for order, change in decided if change.events}
    wanted |= {wo_no for _, change in decided for wo_no, _ in change.related_events}
    if not wanted:
        return []
    last: dict[str, int] = dict.fromkeys(wanted, 0)
    for wo_no, seq in select_in(conn, events, ("wo_no", "seq"), "wo_no", sorted(wanted)):
        last[wo_no] = max(last[wo_no], int(seq))
    rows = []
    pending = [(order.wo_no, event) for order, change in decided for event in change.events]
    pending += [related for _, change in decided for related in change.related_events]
    for wo_no, event in pending:
        last[wo_no] += 1
        rows.append(repo.event_row(wo_no, last[wo_no], event, now))
    return rows


def write_many(
    conn: Connection,
    decided: Sequence[tuple[WorkOrder, Change]],
    now: datetime,
    claims: PreClaims | None = None,
) -> None:
    """Write changes to several orders in the caller's transaction, one statement per kind
    of row for all of them (a batch of bus messages costs about what one does).

    Conflict if any order moved on since it was read (its version guard): the caller rolls
    the whole batch back and decides again.
    """
    if not decided:
        return
    _write_orders(conn, decided, now)
    for _, change in decided:
        for extra in change.on_write:
            extra(conn)
    _write_assignment_updates(conn, decided, now)
    _insert_assignments(conn, decided, now, claims)
    event_rows = _event_rows(conn, decided, now)
    if event_rows:
        repo.insert_events(conn, event_rows)
    _insert_messages(conn, decided, now)


def _insert_assignments(
    conn: Connection,
    decided: Sequence[tuple[WorkOrder, Change]],
    now: datetime,
    claims: PreClaims | None,
) -> list[dict[str, Any]]:
    """Insert the new assignments; returns their rows (without ids)."""
    rows = _assignment_rows(decided, now, claims)
    for group in _grouped(rows):
        insert_many(conn, assignments, group, one_statement=True)
    return rows


def _insert_messages(
    conn: Connection, decided: Sequence[tuple[WorkOrder, Change]], now: datetime
) -> None:
    messages = [
        outbox_row(m.topic, m.key, m.payload, now) for _, change in decided for m in change.messages
    ]
    if messages:
        insert_outbox(conn, messages)


def folds_into_insert(change: Change) -> bool:
    """A change a new order can be stored with from the start: it touches no other order
    and no row that exists already (see insert_changed)."""
    return not (change.on_write or change.related_events or change.assignment_updates)


def insert_changed(
    conn: Connection,
    decided: Sequence[tuple[WorkOrder, Change]],
    rows: Mapping[str, NewRows],
    now: datetime,
    claims: PreClaims | None = None,
) -> None:
    """Store new orders as their changes leave them (the intake routing its own orders):
    each order's row already changed, its first event followed by the change's, and the
    change's assignments and messages — what inserting the rows and then write_many would
    store, without updating rows just inserted or reading their events back. `rows`: each
    order's row and first event, by number; every change folds_into_insert.

    With `claims`, the orders as stored are also handed to this process's dispatcher once
    the transaction commits (PreClaims.keep), so it need not read them back."""
    order_rows, event_rows = [], []
    for order, change in decided:
        row, first_event = rows[order.wo_no]
        changed = {**row, "status": change.status.value, "updated_at": now}
        changed["version"] = order.version + 1
        changed.update({key: _column(value) for key, value in change.fields.items()})
        order_rows.append(changed)
        event_rows.append(first_event)
        seq = first_event["seq"]
        event_rows += [
            repo.event_row(order.wo_no, seq + n, e, now) for n, e in enumerate(change.events, 1)
        ]
    for group in _grouped(order_rows):
        repo.insert_work_orders(conn, group)
    repo.insert_events(conn, event_rows)
    assignment_rows = _insert_assignments(conn, decided, now, claims)
    _insert_messages(conn, decided, now)
    if claims is not None:
        ids = repo.assignment_ids(conn, [order.wo_no for order, _ in decided])
        per_order: dict[str, list[dict[str, Any]]] = {order.wo_no: [] for order, _ in decided}
        for row in assignment_rows:
            row["id"] = ids[(row["wo_no"], row["unit_code"], row["dispatch_key"])]
            per_order[row["wo_no"]].append(row)
        stored = {
            order.wo_no: partial(as_stored, order, change, per_order[order.wo_no], now)
            for order, change in decided
        }
        after_commit(conn, partial(claims.keep, stored))


def as_stored(
    order: WorkOrder, change: Change, assignment_rows: list[dict[str, Any]], now: datetime
) -> WorkOrder:
    """A new order as insert_changed stored it (with its assignments' rows, ids
    included), built as reading it back would build it — but only when it is wanted."""
    return order.model_copy(
        update={
            **change.fields,
            "status": change.status,
            "version": order.version + 1,
            "updated_at": now,
            "assignments": [repo.assignment_from_row(row) for row in assignment_rows],
        }
    )


def write_change(conn: Connection, order: WorkOrder, change: Change, now: datetime) -> None:
    """Write one change in the caller's transaction; Conflict if the order moved on."""
    write_many(conn, [(order, change)], now)


def load(conn: Connection, wo_no: str) -> WorkOrder:
    order = repo.get_work_order(conn, wo_no)
    if order is None:
        raise NotFound(wo_no)
    return order


def apply(
    engine: Engine,
    wo_no: str,
    decide: Decide,
    *,
    now: datetime | None = None,
    tries: int = 5,
) -> tuple[WorkOrder, Change]:
    """Decide on a read, then write under the writer lock, deciding again if another
    writer changed the order in between (the version guard in write_change).

    Reading and deciding outside the write transaction keeps SQLite's single writer lock
    for the writes alone. `decide` may read through the connection it gets; writes it
    needs go in `Change.on_write`. Returns the order as decided on and the change.
    """
    for attempt in range(tries):
        with engine.connect() as conn:
            order = load(conn, wo_no)
            change = decide(conn, order)
        try:
            with transaction(engine) as conn:
                write_change(conn, order, change, now or utcnow())
            return order, change
        except Conflict:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def apply_in(
    conn: Connection, wo_no: str, decide: Decide, *, tries: int = 5
) -> tuple[WorkOrder, Change]:
    """As apply, in the caller's transaction (which already holds SQLite's writer lock):
    read, decide and write, each write in a savepoint, deciding again on a Conflict (on
    PostgreSQL another transaction can commit between the read and the write)."""
    for attempt in range(tries):
        order = load(conn, wo_no)
        change = decide(conn, order)
        try:
            with savepoint(conn):
                write_change(conn, order, change, utcnow())
            return order, change
        except Conflict:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def run(
    engine: Engine,
    wo_no: str,
    decide: Decide,
    *,
    now: datetime | None = None,
    tries: int = 5,
) -> tuple[WorkOrder, Change]:
    """Like apply, but returns the order as it is after the change (for the API's answer)."""
    _, change = apply(engine, wo_no, decide, now=now, tries=tries)
    with engine.connect() as conn:
        return load(conn, wo_no), change
