"""Routing (分单): what happens to a received order, decided by hub.workflow.triage.

Emergencies are transferred, out-of-scope requests told their route, repeats merged into
the order already open, several matters split into child orders, and everything else
assigned to its lead and co-handlers with the SLA deadlines set — or, when no rule fits,
left in the response centre's manual triage queue. Routing an order twice does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, select

from hub.model.base import utcnow
from hub.model.codes import EventAction, WorkOrderState
from hub.model.work_order import NewEvent, WorkOrder, WorkOrderSubmission
from hub.services import workflow
from hub.services.catalogue import Catalogue
from hub.services.intake import NewOrder, PreparedOrder, WriteRouting, receive_many
from hub.services.preclaims import PreClaims
from hub.store import work_orders as repo
from hub.store.db import savepoint, transaction
from hub.store.schema import work_orders
from hub.workflow import actions
from hub.workflow.actions import NewAssignment, SlaClock
from hub.workflow.dispatch_policy import DispatchPolicy
from hub.workflow.duplicates import OrderSummary, find_duplicate, summary_of
from hub.workflow.triage import Dispatch, Emergency, Manual, OutOfScope, Split, triage

log = logging.getLogger(__name__)

SYSTEM = "system:router"
MANUAL_QUEUE = "manual"
#: How many recent orders of a category a new one is compared with, at most.
DUPLICATE_CANDIDATES = 200
OPEN = [s.value for s in WorkOrderState if s.is_open]

Routed = Literal["dispatched", "split", "merged", "transferred", "rejected", "manual", "skipped"]


@dataclass(frozen=True)
class Router:
    engine: Engine
    catalogue: Catalogue
    policy: DispatchPolicy
    clock: SlaClock
    response_minutes: int = 30
    #: Create the routed orders' assignments already leased to this process's dispatcher
    #: (only where that dispatcher consumes the dispatch messages: the in-process bus).
    claims: PreClaims | None = None

    def route(self, wo_no: str) -> Routed:
        outcome: list[Routed] = ["skipped"]

        def decide(conn: Connection, order: WorkOrder) -> actions.Change:
            if order.status is not WorkOrderState.RECEIVED or order.triage_queue:
                outcome[0] = "skipped"
                return actions.Change(order.status, order.status)
            kind, change = self._decide(conn, order, utcnow())
            outcome[0] = kind
            return change

        workflow.apply(self.engine, wo_no, decide)
        return outcome[0]

    def route_many(self, wo_nos: Sequence[str]) -> list[Routed | Exception]:
        """Route a batch: the orders read at once, decided in turn, written in one
        transaction. An order that may repeat another of the same batch, and every order
        of a batch whose write met a conflict, is routed on its own afterwards (when the
        other is stored and can be merged into). One outcome per number, in order."""
        now = utcnow()
        outcomes: dict[str, Routed | Exception] = {}
        with self.engine.connect() as conn:
            orders = repo.get_work_orders(conn, list(wo_nos))
            pending: list[WorkOrder] = []
            for wo_no in dict.fromkeys(wo_nos):
                order = orders.get(wo_no)
                if order is None:
                    outcomes[wo_no] = workflow.NotFound(wo_no)
                elif order.status is not WorkOrderState.RECEIVED or order.triage_queue:
                    outcomes[wo_no] = "skipped"
                else:
                    pending.append(order)
            batch = self._decide_all(conn, pending, now)
        outcomes.update(batch.failed)
        later = batch.later
        try:
            with transaction(self.engine) as conn:
                workflow.write_many(conn, batch.decided, now, self.claims)
            outcomes.update(batch.kinds)
        except workflow.Conflict:
            later = list(batch.kinds) + later
        for wo_no in later:
            try:
                outcomes[wo_no] = self.route(wo_no)
            except Exception as exc:  # this order's outcome; the others go on
                outcomes[wo_no] = exc
        return [outcomes[wo_no] for wo_no in wo_nos]

    def decide_received(self, rows: Sequence[Mapping[str, Any]]) -> WriteRouting:
        """Decide the routing of orders the intake is about to write (their rows), on a
        read, outside the write lock; returns what writes it in the intake's transaction.

        The orders are then stored already routed (workflow.insert_changed). Left received,
        for the route queue, exactly as if this had not been tried: an order that may repeat
        another of the same batch, one whose outcome touches other orders (merged into an
        open one, split into child orders), one whose decision failed, and all of them if
        their write fails (the intake itself never fails here).
        """
        now = utcnow()
        with self.engine.connect() as conn:
            batch = self._decide_all(conn, [repo.order_from_row(row) for row in rows], now)
        for wo_no, exc in batch.failed.items():
            log.warning("order %s: not routed on receipt (%s); left to the route queue", wo_no, exc)

        def write(conn: Connection, written: list[PreparedOrder]) -> set[str]:
            new = {p.receipt.wo_no: (p.row, p.event) for p in written}
            decided = [
                (order, change)
                for order, change in batch.decided
                if order.wo_no in new and workflow.folds_into_insert(change)
            ]
            if not decided:
                return set()
            try:
                with savepoint(conn):
                    workflow.insert_changed(conn, decided, new, now, self.claims)
            except Exception as exc:  # stored as received instead: the route queue has them
                log.warning("routing on receipt failed (%s); left to the route queue", exc)
                return set()
            return {order.wo_no for order, _ in decided}

        return write

    def _decide_all(self, conn: Connection, orders: Sequence[WorkOrder], now: datetime) -> _Batch:
        """Decide each order in turn; a likely twin of one decided before it in the same
        batch waits for `later` (once that one is stored it can be merged into)."""
        batch = _Batch()
        summaries: list[OrderSummary] = []
        for order in orders:
            try:
                kind, change = self._decide(conn, order, now, summaries)
            except _TwinInBatch:
                batch.later.append(order.wo_no)
                continue
            except Exception as exc:  # this order's outcome; the others go on
                batch.failed[order.wo_no] = exc
                continue
            batch.decided.append((order, change))
            batch.kinds[order.wo_no] = kind
            if kind == "dispatched":
                routed = change.fields.get("category_code", order.category_code)
                summaries.append(summary_of(_with_category(order, routed)))
        return batch

    def _decide(
        self,
        conn: Connection,
        order: WorkOrder,
        now: datetime,
        batch: Sequence[OrderSummary] = (),
    ) -> tuple[Routed, actions.Change]:
        found = triage(order, self.catalogue, self.policy)
        if isinstance(found, Split) and order.parent_wo_no:
            found = self._own_matter(order, found)
        if isinstance(found, Emergency):
            note = f"{found.reason}；{found.notice}"
            return "transferred", actions.transfer(order, found.hotline, note, SYSTEM, now)
        if isinstance(found, OutOfScope):
            return "rejected", actions.reject(order, found.route, SYSTEM, now)
        if isinstance(found, Split):
            change = actions.split(order, [], SYSTEM, now, found.reason)
            named = change.events[-1].data["children"]
            change.on_write.append(
                lambda write: named.extend(self._children(write, order, found, now))
            )
            return "split", change
        if isinstance(found, Manual):
            return "manual", self._manual(order, found.reason)
        twin = self._duplicate_of(conn, order, found, batch)
        if twin is not None:
            return "merged", actions.merge(order, workflow.load(conn, twin), SYSTEM, now)
        return "dispatched", self._assign(order, found, now)

    @staticmethod
    def _own_matter(order: WorkOrder, found: Split) -> Dispatch | Manual:
        """A child order is never split again: it carries its own matter (its category)."""
        for child in found.children:
            if child.category_code == order.category_code:
                return Dispatch(child.category_code, child.assignments, found.reason)
        return Manual(f"子工单的类别未能派出 (the child's category found no unit): {found.reason}")

    def _assign(self, order: WorkOrder, found: Dispatch, now: datetime) -> actions.Change:
        sla = self.clock.deadlines(_with_category(order, found.category_code), now)
        plans = [
            NewAssignment(
                p.unit_code,
                p.role,
                self.catalogue.units[p.unit_code].connector,
                sla.resolve_due,
            )
            for p in found.assignments
        ]
        return actions.triage(
            order, plans, sla, SYSTEM, now, category_code=found.category_code, note=found.reason
        )

    def _manual(self, order: WorkOrder, reason: str) -> actions.Change:
        change = actions.Change(order.status, order.status, fields={"triage_queue": MANUAL_QUEUE})
        change.events.append(
            NewEvent(
                EventAction.NOTE,
                SYSTEM,
                order.status,
                order.status,
                public=False,
                note=f"转人工分单 (manual triage): {reason}",
                data={"queue": MANUAL_QUEUE},
            )
        )
        return change

    def _duplicate_of(
        self,
        conn: Connection,
        order: WorkOrder,
        found: Dispatch,
        batch: Sequence[OrderSummary] = (),
    ) -> str | None:
        """An earlier open order of the same category at the same place, if one is similar.

        Without any place there is nothing to compare; with a region code only that place's
        orders are read, otherwise the most recent few of the category. `batch`: orders
        decided earlier in the same batch, not stored yet — a likeness to one of them
        raises _TwinInBatch.
        """
        location = order.location
        if location is None or not (
            location.region_code or location.address or location.latitude is not None
        ):
            return None
        settings = self.policy.duplicates
        since = order.created_at - timedelta(hours=settings.window_hours)
        query = (
            select(
                work_orders.c.wo_no,
                work_orders.c.category_code,
                work_orders.c.region_code,
                work_orders.c.location,
                work_orders.c.title,
                work_orders.c.content,
                work_orders.c.created_at,
            )
            .where(
                and_(
                    work_orders.c.category_code == found.category_code,
                    work_orders.c.status.in_(OPEN),
                    work_orders.c.created_at >= since,
                    work_orders.c.wo_no != order.wo_no,
                    work_orders.c.duplicate_of.is_(None),
                    work_orders.c.status != WorkOrderState.RECEIVED.value,
                )
            )
            .order_by(work_orders.c.id.desc())
            .limit(DUPLICATE_CANDIDATES)
        )
        if location.region_code:
            query = query.where(work_orders.c.region_code == location.region_code)
        recent = [
            OrderSummary(
                wo_no=r.wo_no,
                category_code=r.category_code,
                region_code=r.region_code,
                address=(r.location or {}).get("address"),
                latitude=(r.location or {}).get("latitude"),
                longitude=(r.location or {}).get("longitude"),
                text=f"{r.title}\n{r.content}",
                created_at=r.created_at,
            )
            for r in conn.execute(query)
        ]
        candidate = summary_of(_with_category(order, found.category_code))
        match = find_duplicate(candidate, recent, self.policy)
        if match is None and batch and find_duplicate(candidate, list(batch), self.policy):
            raise _TwinInBatch(order.wo_no)
        return match.wo_no if match else None

    def _children(
        self, conn: Connection, order: WorkOrder, found: Split, now: datetime
    ) -> list[str]:
        """Each matter becomes an order of its own, received now, routed by its category."""
        submissions = [
            NewOrder(
                WorkOrderSubmission(
                    channel=order.origin.channel,
                    appeal_type=order.appeal_type,
                    category_code=child.category_code,
                    title=order.title[:90] + f"（{index}）",
                    content=child.text or order.content,
                    urgency=order.urgency,
                    location=order.location,
                    requester=order.requester,
                    occurred_at=order.occurred_at,
                ),
                SYSTEM,
            )
            for index, child in enumerate(found.children, start=1)
        ]
        receipts = receive_many(
            conn,
            submissions,
            catalogue=self.catalogue,
            now=now,
            response_minutes=self.response_minutes,
        )
        children = [r.wo_no for r in receipts if not isinstance(r, Exception)]
        conn.execute(
            work_orders.update()
            .where(work_orders.c.wo_no.in_(children))
            .values(parent_wo_no=order.wo_no)
        )
        return children


def _with_category(order: WorkOrder, category_code: str | None) -> WorkOrder:
    """The order as routed; most keep the category they came with, and need no copy."""
    if category_code == order.category_code:
        return order
    return order.model_copy(update={"category_code": category_code})


@dataclass
class _Batch:
    """Orders decided together: their changes, outcomes, failures and those put off."""

    decided: list[tuple[WorkOrder, actions.Change]] = field(default_factory=list)
    kinds: dict[str, Routed] = field(default_factory=dict)
    failed: dict[str, Exception] = field(default_factory=dict)
    later: list[str] = field(default_factory=list)


class _TwinInBatch(Exception):
    """The order may repeat one routed earlier in the same batch and not yet stored."""
