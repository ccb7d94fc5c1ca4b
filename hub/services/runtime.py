"""The work-order flow of one process: policies, router, dispatcher, feedback, supervision.

The bus handlers, the `jingkai sweep` commands and the Airflow tasks all call these
methods, so an order moves the same way whichever of them picks it up. Each sweep finds
work left half done (an order received but not routed, an assignment not delivered, a
supervision mark due) and finishes it; running a sweep twice does nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, and_, delete, select

from hub.bus.consumer import Batch, Defer, Handler, Message, Outcomes
from hub.config import Settings
from hub.model.base import utcnow
from hub.model.codes import EventAction, WorkOrderState
from hub.model.work_order import NewEvent, WorkOrder
from hub.reference import load_reference
from hub.services import workflow
from hub.services.actions import WorkflowContext
from hub.services.catalogue import Catalogue, CatalogueCache
from hub.services.clock import PolicyClock
from hub.services.dispatch import Delivery, Dispatcher, DispatchPolicy, due_for_dispatch
from hub.services.feedback import FeedbackResult, poll
from hub.services.intake import WriteRouting
from hub.services.pool import ConnectorPool
from hub.services.preclaims import PreClaims
from hub.services.reply import send_reply
from hub.services.routing import Router
from hub.services.thread_batches import then
from hub.store.db import transaction
from hub.store.idempotency import purge_expired
from hub.store.schema import callback_nonces, processed_messages, work_orders
from hub.workflow import actions
from hub.workflow.calendar import WorkingCalendar, load_calendar
from hub.workflow.dispatch_policy import DispatchPolicy as TriagePolicy
from hub.workflow.dispatch_policy import load_dispatch_policy
from hub.workflow.sla import SlaPolicy, load_sla_policy
from hub.workflow.states import HANDLING, InvalidTransition
from hub.workflow.supervision import MarksMade, due_marks

log = logging.getLogger(__name__)

SUPERVISOR = "system:supervisor"
#: Longer than any callback's allowed clock skew (max 3600 s in the connector schema).
NONCE_KEEP = timedelta(hours=2)
#: Longer than any redelivery of a bus message can arrive (retries back off to minutes).
SETTLED_KEEP = timedelta(days=7)
SUPERVISED_STATES = [s.value for s in HANDLING]
#: Messages a routing or dispatch consumer takes at once (one transaction for all).
BATCH_SIZE = 64


@dataclass(frozen=True)
class Policies:
    sla: SlaPolicy
    calendar: WorkingCalendar
    triage: TriagePolicy


def load_policies(settings: Settings) -> Policies:
    directory = settings.policies_dir
    return Policies(
        load_sla_policy(directory / "sla.yaml"),
        load_calendar(directory / "calendars"),
        load_dispatch_policy(directory / "dispatch.yaml", load_reference(directory)),
    )


@dataclass
class SweepReport:
    done: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.done[key] = self.done.get(key, 0) + n


class FlowRuntime:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        catalogue: CatalogueCache | None = None,
        dispatch_policy: DispatchPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.catalogues = catalogue or CatalogueCache(engine)
        self.policies = load_policies(settings)
        self.clock = PolicyClock(self.policies.sla, self.policies.calendar)
        self.pool = ConnectorPool(settings, engine)
        self.dispatch_policy = dispatch_policy or DispatchPolicy(
            lease=timedelta(seconds=settings.dispatch_lease_seconds)
        )

    @property
    def catalogue(self) -> Catalogue:
        return self.catalogues.get()

    def context(self) -> WorkflowContext:
        return WorkflowContext(self.engine, self.catalogue, self.clock)

    def router(self, claims: PreClaims | None = None) -> Router:
        return Router(
            self.engine,
            self.catalogue,
            self.policies.triage,
            self.clock,
            self.settings.response_minutes,
            claims,
        )

    @cached_property
    def dispatcher(self) -> Dispatcher:
        dispatcher = Dispatcher(self.engine, self.pool, self.catalogues, self.dispatch_policy)
        if self.settings.broker_url.startswith("memory:"):
            # in-process bus: this process's dispatcher consumes what its router routes
            dispatcher.claims = PreClaims(dispatcher.lease)
        return dispatcher

    def close(self) -> None:
        if "dispatcher" in self.__dict__:  # built on first use
            self.dispatcher.close()
        self.pool.close()

    # --- bus handlers ---------------------------------------------------------------------

    def handlers(self) -> dict[str, Handler | Batch]:
        """Routing and dispatch take their queue's waiting messages as one batch.

        Called once, as this process starts running the flow: the connectors and mappings
        are loaded now rather than by the first orders (ConnectorPool.preload)."""
        self.pool.preload()
        dispatch = Batch(self._on_dispatch_batch, BATCH_SIZE)
        table: dict[str, Handler | Batch] = {
            "route": Batch(self._on_received_batch, BATCH_SIZE),
            "reply": self._on_reply,
            "notice": self._on_notice,
            "dispatch.inbox": dispatch,
        }
        for name in self.pool.names():
            table[f"dispatch.{name}"] = dispatch
        return table

    def route_on_receipt(self, rows: list[dict[str, Any]]) -> WriteRouting:
        """For the intake of a process that runs the flow: route its new orders in the
        intake's own transaction (see Router.decide_received) — no route message, no second
        read and write of each order, one bus hop less on the way to the department."""
        return self.router(self.dispatcher.claims).decide_received(rows)

    def _on_received_batch(self, messages: list[Message]) -> Outcomes:
        outcomes, valid = _with_order_numbers(messages)
        router = self.router(self.dispatcher.claims)
        routed = router.route_many([messages[i].payload["wo_no"] for i in valid])
        for index, result in zip(valid, routed, strict=True):
            outcomes[index] = result if isinstance(result, Exception) else None
        return outcomes

    def _on_dispatch_batch(self, messages: list[Message]) -> Future[Outcomes]:
        """Settled once recorded; the consumer sends its next batch meanwhile."""
        outcomes, valid = _with_order_numbers(messages)
        items = [(messages[i].payload["wo_no"], _unit(messages[i])) for i in valid]

        def settled(found: list[list[Delivery] | Exception]) -> Outcomes:
            for index, result in zip(valid, found, strict=True):
                outcomes[index] = result if isinstance(result, Exception) else _deferred(result)
            return outcomes

        return then(self.dispatcher.dispatch_sent(items), settled)

    # A failure raised by a handler is retried by the bus with backoff, then dead-lettered.

    def _on_reply(self, message: Message) -> None:
        send_reply(self.pool, str(message.payload["wo_no"]))

    def _on_notice(self, message: Message) -> None:
        payload = message.payload
        self.dispatcher.notify(
            str(payload["wo_no"]),
            str(payload["unit_code"]),
            str(payload.get("kind") or "notice"),
            message.message_id,
        )

    # --- sweeps (also the Airflow tasks) --------------------------------------------------

    def sweep_route(self, older_than: timedelta = timedelta(seconds=0)) -> SweepReport:
        """Orders received but not routed (the bus message was lost, or the worker died)."""
        report = SweepReport()
        cutoff = utcnow() - older_than
        query = (
            select(work_orders.c.wo_no)
            .where(
                and_(
                    work_orders.c.status == WorkOrderState.RECEIVED.value,
                    work_orders.c.triage_queue.is_(None),
                    work_orders.c.created_at <= cutoff,
                )
            )
            .order_by(work_orders.c.id)
        )
        with self.engine.connect() as conn:
            pending = list(conn.execute(query).scalars())
        router = self.router()
        for wo_no in pending:
            report.count(router.route(wo_no))
        return report

    def sweep_dispatch(
        self, now: datetime | None = None, older_than: timedelta = timedelta(seconds=0)
    ) -> SweepReport:
        """Assignments not yet delivered whose (re)try time has come, and that have waited
        at least `older_than` (the embedded sweeper leaves fresh ones to the bus)."""
        now = now or utcnow()
        report = SweepReport()
        due = list(dict.fromkeys(due_for_dispatch(self.engine, now, older_than=older_than)))
        for start in range(0, len(due), BATCH_SIZE):
            batch: list[tuple[str, str | None]] = list(due[start : start + BATCH_SIZE])
            for (wo_no, _), found in zip(batch, self.dispatcher.dispatch_many(batch), strict=True):
                if isinstance(found, Exception):
                    log.warning("sweep dispatch %s: %s", wo_no, found)
                    report.count("failed")
                    continue
                for delivery in found:
                    report.count(delivery.outcome)
        return report

    def sweep_feedback(self, connectors: list[str] | None = None) -> SweepReport:
        """Poll each connector with a status operation for the tasks it still has open."""
        report = SweepReport()
        for name in connectors or self.pool.names():
            if self.pool.operation(name, "status") is None:
                continue
            result: FeedbackResult = poll(self.pool, name, self.clock)
            report.count("applied", result.applied)
            report.count("unchanged", result.unchanged)
            report.count("failed", len(result.failed))
        return report

    def sweep_supervise(self, now: datetime | None = None) -> SweepReport:
        """Warn, urge, escalate and count overdue days for orders being handled."""
        now = now or utcnow()
        report = SweepReport()
        query = (
            select(work_orders.c.wo_no)
            .where(work_orders.c.status.in_(SUPERVISED_STATES))
            .order_by(work_orders.c.id)
        )
        with self.engine.connect() as conn:
            candidates = list(conn.execute(query).scalars())
        for wo_no in candidates:
            made: list[str] = []

            def decide(_conn: Any, order: WorkOrder, made: list[str] = made) -> actions.Change:
                made.clear()  # decided again after a conflict: count the last decision only
                return self._supervision_change(order, now, made)

            try:
                workflow.apply(self.engine, wo_no, decide, now=now)
            except InvalidTransition:
                continue
            for kind in made:
                report.count(kind)
        return report

    def _supervision_change(
        self, order: WorkOrder, now: datetime, made: list[str]
    ) -> actions.Change:
        rules = self.policies.sla.supervision
        marks_made = MarksMade.from_json(order.supervision)
        marks = due_marks(order.sla, marks_made, now, self.policies.calendar, rules)
        change = actions.Change(order.status, order.status)
        if not marks:
            return change
        working = [a for a in order.assignments if a.state in actions.WORKING]
        for mark in marks:
            made.append(mark.kind)
            change.events.append(
                NewEvent(
                    mark.action,
                    SUPERVISOR,
                    order.status,
                    order.status,
                    note=_mark_note(mark.kind, mark.overdue_days),
                    data=mark.event_data(),
                )
            )
            if mark.action is EventAction.URGED:
                change.messages.extend(
                    actions.notice_message(order.wo_no, a.unit_code, a.connector, "urge")
                    for a in working
                )
            if mark.action is EventAction.SUPERVISED:
                unit = rules.supervising_unit
                connector = (
                    self.catalogue.units[unit].connector if unit in self.catalogue.units else None
                )
                change.messages.append(
                    actions.notice_message(order.wo_no, unit, connector, "supervise")
                )
        change.fields["supervision"] = marks_made.record(marks).to_json()
        return change

    def sweep_housekeeping(self, now: datetime | None = None) -> SweepReport:
        """Forget what only mattered for a while: Idempotency-Key answers past their TTL,
        callback nonces older than any accepted timestamp, settled bus message ids."""
        now = now or utcnow()
        report = SweepReport()
        with transaction(self.engine) as conn:
            ttl = timedelta(hours=self.settings.idempotency_ttl_hours)
            report.count("idempotency_keys", purge_expired(conn, now, ttl))
            nonces = conn.execute(
                delete(callback_nonces).where(callback_nonces.c.seen_at < now - NONCE_KEEP)
            )
            report.count("callback_nonces", nonces.rowcount)
            settled = conn.execute(
                delete(processed_messages).where(
                    processed_messages.c.processed_at < now - SETTLED_KEEP
                )
            )
            report.count("processed_messages", settled.rowcount)
        return report

    def sweep(self, which: str) -> SweepReport:
        sweeps: dict[str, Callable[[], SweepReport]] = {
            "route": self.sweep_route,
            "dispatch": self.sweep_dispatch,
            "feedback": self.sweep_feedback,
            "supervise": self.sweep_supervise,
            "housekeeping": self.sweep_housekeeping,
        }
        return sweeps[which]()


def _with_order_numbers(messages: list[Message]) -> tuple[Outcomes, list[int]]:
    """An error for each message without a work-order number, and where the others are."""
    outcomes: Outcomes = []
    valid: list[int] = []
    for index, message in enumerate(messages):
        wo_no = message.payload.get("wo_no")
        if isinstance(wo_no, str) and wo_no:
            outcomes.append(None)
            valid.append(index)
        else:
            outcomes.append(ValueError("消息缺少工单号 (no wo_no in payload)"))
    return outcomes, valid


def _unit(message: Message) -> str | None:
    unit = message.payload.get("unit_code")
    return str(unit) if unit else None


def _deferred(deliveries: list[Delivery]) -> Defer | None:
    """Deliveries waiting on a retry or an open circuit: the message comes back then."""
    waiting = [d for d in deliveries if d.outcome in ("retry", "wait")]
    if not waiting:
        return None
    first = min(d.retry_at or utcnow() for d in waiting)
    delay = max(0.5, (first - utcnow()).total_seconds())
    return Defer(delay, "; ".join(d.reason or d.outcome for d in waiting))


def _mark_note(kind: str, overdue_days: int | None) -> str:
    notes = {
        "warned": "临近办理时限，预警 (deadline approaching: warning)",
        "urged": "办理时限当日，催办 (due today: urging notice sent)",
        "supervised": "已超期，督办 (overdue: escalated to the supervising office)",
        "overdue": f"已超期 {overdue_days or 0} 个工作日 (overdue working days)",
    }
    return notes[kind]


__all__ = ["FlowRuntime", "Policies", "SweepReport", "load_policies"]
