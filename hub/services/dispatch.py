"""Dispatch (派单): deliver each assignment to its unit's system, exactly once.

The work-order number (with a suffix for a repeat dispatch to the same unit) is the
idempotency key towards the department system. Before a retry, where the system can be
queried, the dispatcher first asks whether the task already exists — so a timeout after
the far side committed, or a crash of this process mid-call, never creates a second task.
An assignment is claimed with a lease before the call, so two workers never send it at
the same time. While a connector's circuit is open its orders wait; after the last
attempt they fall back to the hub inbox with an alert on the timeline.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, and_, bindparam, or_, select, update

from hub.adapters.errors import AdapterError, CircuitOpen
from hub.mapping import DispatchResult, MappingError
from hub.model.base import utcnow
from hub.model.codes import DeliveryState, OrgTier
from hub.model.work_order import Assignment, WorkOrder
from hub.services import workflow
from hub.services.catalogue import Catalogue, CatalogueCache
from hub.services.inbox import StoreInbox
from hub.services.pool import ConnectorPool
from hub.services.preclaims import PreClaims
from hub.services.thread_batches import all_of, then, then_await
from hub.services.write_rounds import write_rounds
from hub.store import work_orders as repo
from hub.store.db import savepoint, transaction
from hub.store.schema import assignments
from hub.workflow import actions
from hub.workflow.states import InvalidTransition

log = logging.getLogger(__name__)

UNDELIVERED = (DeliveryState.PENDING.value, DeliveryState.SENT.value, DeliveryState.FAILED.value)
#: Take the leases of these assignments, where no other worker holds one (built once).
_CLAIM = (
    update(assignments)
    .where(
        and_(
            assignments.c.id.in_(bindparam("ids", expanding=True)),
            assignments.c.delivery_state.in_(UNDELIVERED),
            or_(
                assignments.c.next_attempt_at.is_(None),
                assignments.c.next_attempt_at <= bindparam("now"),
            ),
        )
    )
    .values(
        attempts=assignments.c.attempts + 1,
        delivery_state=DeliveryState.SENT.value,
        next_attempt_at=bindparam("until"),
        updated_at=bindparam("set_now"),
    )
    .returning(assignments.c.id, assignments.c.attempts)
)
SYSTEM = "system:dispatcher"

Outcome = Literal["delivered", "inbox", "retry", "wait", "skipped"]


@dataclass(frozen=True)
class DispatchPolicy:
    """How hard to try a department system before the inbox fallback."""

    max_attempts: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    #: How long one worker holds an assignment while it calls the system.
    lease: timedelta = timedelta(seconds=60)

    def backoff(self, attempt: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Delivery:
    wo_no: str
    unit_code: str
    outcome: Outcome
    external_id: str | None = None
    reason: str | None = None
    retry_at: datetime | None = None


def delivery_unit(catalogue: Catalogue, unit_code: str) -> str:
    """Whose inbox gets it: a village or community is reached through its town or street."""
    unit = catalogue.units.get(unit_code)
    if unit is not None and unit.tier is OrgTier.VILLAGE_COMMUNITY and unit.parent:
        return unit.parent
    return unit_code


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        pool: ConnectorPool,
        catalogues: CatalogueCache,
        policy: DispatchPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.catalogues = catalogues
        self.policy = policy or DispatchPolicy()
        self.inbox = StoreInbox(engine)
        #: Set where the router in this process leases what it assigns (in-process bus).
        self.claims: PreClaims | None = None
        self._executors: dict[str, ThreadPoolExecutor | None] = {}
        self._senders_lock = threading.Lock()
        #: Records the tasks created, in the process's write rounds (with other writes).
        self._writer = write_rounds(engine)

    @property
    def catalogue(self) -> Catalogue:
        """Read through the cache: a long-running worker sees reference-data changes."""
        return self.catalogues.get()

    def dispatch(self, wo_no: str, unit_code: str | None = None) -> list[Delivery]:
        """Deliver every undelivered assignment of the order (or of one unit)."""
        found = self.dispatch_many([(wo_no, unit_code)])[0]
        if isinstance(found, Exception):
            raise found
        return found

    def dispatch_many(
        self, wanted: Sequence[tuple[str, str | None]]
    ) -> list[list[Delivery] | Exception]:
        """Deliver a batch of (order, unit or None): the orders read at once, their
        assignments claimed in one transaction, each sent on its own, and the tasks created
        recorded in one transaction. One outcome per item, in order."""
        return self.dispatch_sent(wanted).result()

    def dispatch_sent(
        self, wanted: Sequence[tuple[str, str | None]]
    ) -> Future[list[list[Delivery] | Exception]]:
        """As dispatch_many, but returns once the calls are out: the Future is done when
        the department systems have answered and the tasks they created are recorded (in
        the process's next write round, with its other writes). A bus consumer takes its
        next batch meanwhile."""
        orders = self._orders([wo_no for wo_no, _ in wanted])
        missing: dict[int, Exception] = {}
        found: dict[int, list[Delivery]] = {}
        work: list[tuple[int, WorkOrder, Assignment]] = []
        for index, (wo_no, unit_code) in enumerate(wanted):
            order = orders.get(wo_no)
            if order is None:
                missing[index] = workflow.NotFound(wo_no)
                continue
            found[index] = []
            work.extend((index, order, a) for a in _waiting(order, unit_code))
        now = utcnow()
        leased = {a.id for _, order, a in work if self._leased_here(order, a, now)}
        claimed = self._claim_many([a for _, _, a in work if a.id not in leased], now)
        claimed.update({a.id or 0: a.attempts for _, _, a in work if a.id in leased})
        attempts: list[tuple[int, Future[Delivery | _Sent]]] = []
        for index, order, assignment in work:
            attempt = claimed.pop(assignment.id or 0, None)
            if attempt is None:
                found[index].append(Delivery(order.wo_no, assignment.unit_code, "skipped"))
            else:
                attempts.append((index, self._start(order, assignment, attempt)))

        def record(outcomes: list[Delivery | _Sent]) -> Future[list[list[Delivery] | Exception]]:
            """Once every call has answered (on the thread of the last): record the
            created tasks in the next write round."""
            sent: list[tuple[int, _Sent]] = []
            for (index, _), outcome in zip(attempts, outcomes, strict=True):
                if isinstance(outcome, Delivery):
                    found[index].append(outcome)
                else:
                    sent.append((index, outcome))

            def recorded(deliveries: list[Delivery]) -> list[list[Delivery] | Exception]:
                for (index, _), delivery in zip(sent, deliveries, strict=True):
                    found[index].append(delivery)
                return [missing[i] if i in missing else found[i] for i in range(len(wanted))]

            to_record = [s for _, s in sent]
            recording: Future[list[Delivery]] = Future()
            if to_record:
                records = _Records.of(to_record)  # decided here: the round holds the lock
                recording = self._writer.submit(lambda conn: self._record_many(conn, records))
            else:
                recording.set_result([])
            return then(recording, recorded)

        # The consumer goes on to its next batch while this one's calls are out.
        return then_await(all_of([running for _, running in attempts]), record)

    def notify(self, wo_no: str, unit_code: str, kind: str, key: str) -> str:
        """An urging or supervision notice: the unit's `notice` operation, else its inbox."""
        with self.engine.connect() as conn:
            order = workflow.load(conn, wo_no)
        unit = self.catalogue.units.get(unit_code)
        connector = unit.connector if unit is not None else None
        op = self.pool.operation(connector, "notice") if connector else None
        notice = {
            "wo_no": wo_no,
            "unit_code": unit_code,
            "kind": kind,
            "title": order.title,
            "due_at": order.sla.extended_until or order.sla.resolve_due,
        }
        if connector and op is not None and op.mapping:
            self.pool.call(connector, op, notice)
            return f"{connector}:{op.name}"
        inbox_kind = "urge" if kind == "urge" else "notice"
        item = self.inbox.deliver(
            delivery_unit(self.catalogue, unit_code),
            inbox_kind,
            {**notice, "due_at": str(notice["due_at"]), "idempotency_key": f"{kind}:{key}"[:100]},
        )
        return f"inbox:{item}"

    # --- one assignment -------------------------------------------------------------------

    def lease(self, connector: str | None) -> timedelta:
        """Longer than the longest call the connector's config allows.

        Another worker may take the assignment over only once the first one's call must
        have ended (every attempt timed out, every retry wait spent); otherwise its lookup
        could miss a task the first call is still creating, and send a second one.
        """
        if connector is None:
            return self.policy.lease
        config = self.pool.config(connector)
        attempts = config.retry.attempts
        waits = max(config.retry.backoff.cap, config.retry.max_retry_after)
        if not config.retry.respect_retry_after:
            waits = config.retry.backoff.cap
        call = timedelta(
            seconds=attempts * (config.timeouts.connect + config.timeouts.read)
            + (attempts - 1) * waits
            + 5.0
        )
        return max(self.policy.lease, call)

    def _orders(self, wo_nos: list[str]) -> dict[str, WorkOrder]:
        """The orders, as the router here stored them a moment ago or else as read."""
        found = self.claims.orders(wo_nos) if self.claims is not None else {}
        unknown = [wo_no for wo_no in wo_nos if wo_no not in found]
        if unknown:
            with self.engine.connect() as conn:
                found.update(repo.get_work_orders(conn, unknown))
        return found

    def _leased_here(self, order: WorkOrder, assignment: Assignment, now: datetime) -> bool:
        return self.claims is not None and self.claims.take(order.wo_no, assignment, now)

    def _claim_many(self, claims: list[Assignment], now: datetime) -> dict[int, int]:
        """Take the leases, in one transaction: assignment id → attempt number, for those
        no other worker holds."""
        by_lease: dict[timedelta, list[int]] = {}
        for assignment in claims:
            by_lease.setdefault(self.lease(assignment.connector), []).append(assignment.id or 0)
        if not by_lease:
            return {}
        claimed: dict[int, int] = {}
        with transaction(self.engine) as conn:
            for lease, ids in by_lease.items():
                bound = {"ids": ids, "now": now, "until": now + lease, "set_now": now}
                rows = conn.execute(_CLAIM, bound)
                claimed.update({int(row.id): int(row.attempts) for row in rows})
        return claimed

    def _start(
        self, order: WorkOrder, assignment: Assignment, attempt: int
    ) -> Future[Delivery | _Sent]:
        """Run one claimed delivery: on the connector's senders, so a batch's calls overlap
        (up to the connector's `limits.max_concurrent_calls`), or here and now."""
        connector = assignment.connector
        senders = self._senders(connector) if connector else None
        if senders is not None:
            return senders.submit(self._attempt, order, assignment, attempt)
        done: Future[Delivery | _Sent] = Future()
        try:
            done.set_result(self._attempt(order, assignment, attempt))
        except Exception as exc:  # raised again by result(), as from a sender
            done.set_exception(exc)
        return done

    def _senders(self, connector: str) -> ThreadPoolExecutor | None:
        with self._senders_lock:
            if connector not in self._executors:
                calls = self.pool.config(connector).limits.max_concurrent_calls
                self._executors[connector] = (
                    ThreadPoolExecutor(calls, thread_name_prefix=f"hub-send-{connector}")
                    if calls > 1
                    else None
                )
            return self._executors[connector]

    def close(self) -> None:
        """Stop the senders (calls in progress finish first), then record what they sent."""
        with self._senders_lock:
            executors, self._executors = self._executors, {}
        for executor in executors.values():
            if executor is not None:
                executor.shutdown(wait=True)
        self._writer.close()

    def _attempt(self, order: WorkOrder, assignment: Assignment, attempt: int) -> Delivery | _Sent:
        """One claimed delivery: the task created (to record), or what happened instead."""
        key = assignment.dispatch_key or order.wo_no
        if assignment.connector is None:
            return self._to_inbox(order, assignment, key)
        try:
            external_id = self._send(order, assignment, key, looked_up=attempt > 1)
        except CircuitOpen as exc:
            return self._wait(order, assignment, str(exc), attempt)
        except _Refused as exc:
            return self._give_up(order, assignment, key, exc.reason)
        except (AdapterError, MappingError, OSError) as exc:
            return self._failed(order, assignment, key, _reason(exc), attempt)
        return _Sent(order, assignment, external_id, utcnow())

    def _send(self, order: WorkOrder, assignment: Assignment, key: str, *, looked_up: bool) -> str:
        connector = assignment.connector or ""
        create = self.pool.operation(connector, "create")
        if create is None:
            raise _Refused(f"连接器 {connector} 没有 create 操作 (no create operation)")
        # the department system knows the task by its dispatch key (the order's number,
        # or number-2 … for a unit given the order again)
        source = order if key == order.wo_no else order.model_copy(update={"wo_no": key})
        if looked_up and create.idempotency_lookup:
            found = self._lookup(connector, create.idempotency_lookup, source)
            if found is not None:
                log.info("dispatch %s: found earlier task %s in %s", key, found, connector)
                return found
        response = self.pool.call(connector, create, source)
        if create.response_mapping is None:
            return key  # a row written under our key (e.g. Tongda's task_no)
        answers = self.pool.answer(create, response)
        result = answers[0] if answers else DispatchResult()
        if not isinstance(result, DispatchResult):
            raise _Refused(f"{create.response_mapping} 不是 dispatch_result 映射 (wrong target)")
        if result.refusal is not None:
            raise _Refused(f"{connector} 拒绝创建 (refused): {result.refusal}")
        return result.external_id or key

    def _lookup(self, connector: str, op_name: str, source: WorkOrder) -> str | None:
        op = self.pool.operation(connector, op_name)
        if op is None:
            return None
        found = self.pool.answer(op, self.pool.call(connector, op, source))
        ids = [getattr(record, "external_id", None) for record in found]
        return next((i for i in ids if i), None)

    # --- outcomes -------------------------------------------------------------------------

    def _record_many(self, conn: Connection, records: _Records) -> list[Delivery]:
        """Record created tasks together (as decided before the round); an order with more
        than one of them here, or one that changed since it was read, is read again and
        recorded on its own."""
        together = records.together
        if records.decided:
            try:
                with savepoint(conn):
                    workflow.write_many(conn, records.decided, utcnow())
            except workflow.Conflict:
                together = frozenset()
        return [
            item.recorded() if id(item) in together else self._record_one(conn, item)
            for item in records.sent
        ]

    def _record_one(self, conn: Connection, sent: _Sent) -> Delivery:
        """Record one task on the order as it is now."""

        def decide(_conn: Connection, current: WorkOrder) -> actions.Change:
            now_sent = replace(sent, order=current, assignment=_same(current, sent.assignment))
            return _delivered_change(current, now_sent)

        wo_no, unit_code = sent.order.wo_no, sent.assignment.unit_code
        try:
            workflow.apply_in(conn, wo_no, decide)
        except InvalidTransition as exc:  # cancelled or merged meanwhile: nothing to record
            return Delivery(wo_no, unit_code, "skipped", reason=str(exc))
        return sent.recorded()

    def _to_inbox(
        self, order: WorkOrder, assignment: Assignment, key: str, reason: str | None = None
    ) -> Delivery:
        unit = delivery_unit(self.catalogue, assignment.unit_code)
        item_id = self.inbox.deliver(
            unit,
            "dispatch",
            {
                "wo_no": order.wo_no,
                "idempotency_key": f"dispatch:{key}:{assignment.unit_code}",
                "title": order.title,
                "unit_code": assignment.unit_code,
                "role": assignment.role.value,
                "due_at": assignment.due_at.isoformat() if assignment.due_at else None,
                "fallback_reason": reason,
            },
        )
        sent = _Sent(order, assignment, f"inbox:{item_id}", utcnow(), DeliveryState.INBOX)
        records = _Records.of([sent])
        return self._writer.write(lambda conn: self._record_many(conn, records))[0]

    def _failed(
        self, order: WorkOrder, assignment: Assignment, key: str, reason: str, attempt: int
    ) -> Delivery:
        if attempt >= self.policy.max_attempts:
            return self._give_up(order, assignment, key, reason)
        retry_at = utcnow() + self.policy.backoff(attempt)
        self._mark(assignment, DeliveryState.FAILED, reason, retry_at)
        return Delivery(
            order.wo_no, assignment.unit_code, "retry", reason=reason, retry_at=retry_at
        )

    def _wait(
        self, order: WorkOrder, assignment: Assignment, reason: str, attempt: int
    ) -> Delivery:
        """The system is down: wait without spending an attempt, until the circuit closes."""
        retry_at = utcnow() + self.policy.backoff(1)
        self._mark(assignment, DeliveryState.PENDING, reason, retry_at, undo_attempt=True)
        return Delivery(order.wo_no, assignment.unit_code, "wait", reason=reason, retry_at=retry_at)

    def _give_up(self, order: WorkOrder, assignment: Assignment, key: str, reason: str) -> Delivery:
        """Last attempt spent (or a refusal): the hub inbox takes it, and staff are alerted."""

        def decide(_conn: object, current: WorkOrder) -> actions.Change:
            return actions.delivery_failed(
                current, _same(current, assignment), reason, SYSTEM, alert=True
            )

        workflow.apply(self.engine, order.wo_no, decide)
        log.warning(
            "dispatch %s to %s failed, inbox fallback: %s", key, assignment.unit_code, reason
        )
        return self._to_inbox(order, assignment, key, reason)

    def _mark(
        self,
        assignment: Assignment,
        state: DeliveryState,
        reason: str,
        retry_at: datetime,
        *,
        undo_attempt: bool = False,
    ) -> None:
        values: dict[str, object] = {
            "delivery_state": state.value,
            "last_error": reason[:2000],
            "next_attempt_at": retry_at,
            "updated_at": utcnow(),
        }
        if undo_attempt:
            values["attempts"] = assignments.c.attempts - 1
        with transaction(self.engine) as conn:
            conn.execute(
                update(assignments).where(assignments.c.id == assignment.id).values(values)
            )


@dataclass(frozen=True)
class _Sent:
    """A task the department system has created (at `answered_at`), not yet recorded."""

    order: WorkOrder
    assignment: Assignment
    external_id: str | None
    answered_at: datetime
    state: DeliveryState = DeliveryState.DELIVERED

    def recorded(self) -> Delivery:
        outcome: Outcome = "inbox" if self.state is DeliveryState.INBOX else "delivered"
        return Delivery(self.order.wo_no, self.assignment.unit_code, outcome, self.external_id)


@dataclass(frozen=True)
class _Records:
    """Created tasks to record, with the changes decided on the orders as read; `together`:
    the ids of the tasks those changes record (the rest are recorded one by one)."""

    sent: list[_Sent]
    decided: list[tuple[WorkOrder, actions.Change]]
    together: frozenset[int]

    @classmethod
    def of(cls, sent: list[_Sent]) -> _Records:
        per_order = Counter(s.order.wo_no for s in sent)
        decided: list[tuple[WorkOrder, actions.Change]] = []
        together: set[int] = set()
        for item in sent:
            if per_order[item.order.wo_no] > 1:
                continue
            try:
                decided.append((item.order, _delivered_change(item.order, item)))
            except InvalidTransition:
                continue  # recorded on its own, which says why it was skipped
            together.add(id(item))
        return cls(sent, decided, frozenset(together))


def _delivered_change(order: WorkOrder, sent: _Sent) -> actions.Change:
    change = actions.delivered(
        order, sent.assignment, sent.external_id, sent.state, SYSTEM, sent.answered_at
    )
    change.assignment_updates[sent.assignment.id or 0].update(next_attempt_at=None, last_error=None)
    return change


def _waiting(order: WorkOrder, unit_code: str | None) -> list[Assignment]:
    """The order's assignments still to deliver (of one unit, if given)."""
    return [
        a
        for a in order.assignments
        if a.delivery_state.value in UNDELIVERED
        and a.state in actions.WORKING
        and (unit_code is None or a.unit_code == unit_code)
    ]


class _Refused(Exception):
    """The far side answered and said no: retrying the same request will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _same(order: WorkOrder, assignment: Assignment) -> Assignment:
    return next(a for a in order.assignments if a.id == assignment.id)


def due_for_dispatch(
    engine: Engine,
    now: datetime,
    limit: int = 500,
    *,
    older_than: timedelta = timedelta(seconds=0),
) -> list[tuple[str, str]]:
    """(wo_no, unit_code) of assignments left undelivered whose retry time has come, last
    touched at least `older_than` ago."""
    query = (
        select(assignments.c.wo_no, assignments.c.unit_code)
        .where(
            and_(
                assignments.c.delivery_state.in_(UNDELIVERED),
                assignments.c.state.in_([s.value for s in actions.WORKING]),
                or_(assignments.c.next_attempt_at.is_(None), assignments.c.next_attempt_at <= now),
                assignments.c.updated_at <= now - older_than,
            )
        )
        .order_by(assignments.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(row.wo_no, row.unit_code) for row in conn.execute(query)]


__all__ = [
    "Delivery",
    "DispatchPolicy",
    "Dispatcher",
    "delivery_unit",
    "due_for_dispatch",
]
