"""Where a process runs the flow (the embedded worker), its intake routes new orders in the
intake's own transaction: no route message, still one task each; an order it cannot route
there (a likely repeat of another in the same batch, a failed write) is left received with
its route message, and the intake itself never fails for it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from flow_helpers import LAMP, Hub
from sqlalchemy import event, select
from test_flow_batches import KINDS, tasks_per_order

from hub.model.base import utcnow
from hub.model.work_order import WorkOrderSubmission
from hub.services import routing
from hub.services.intake import TOPIC_RECEIVED, NewOrder, prepare_orders, write_orders
from hub.store.db import transaction
from hub.store.schema import assignments, events, outbox, work_orders
from hub.store.work_orders import allocate_serials, get_work_order

pytest_plugins = ["flow_fixtures"]

REPEAT = {**LAMP, "content": "前进村东头那三盏路灯还是不亮，晚上走路很黑。"}


def route_messages(hub: Hub, wo_nos: list[str]) -> Counter[str]:
    """Route-queue messages in the outbox, per order number."""
    with hub.runtime.engine.connect() as conn:
        keys = conn.execute(select(outbox.c.key).where(outbox.c.topic == TOPIC_RECEIVED))
        return Counter(key for key in keys.scalars() if key in wo_nos)


def assignment_count(hub: Hub, wo_no: str) -> int:
    with hub.runtime.engine.connect() as conn:
        found = conn.execute(select(assignments.c.id).where(assignments.c.wo_no == wo_no))
        return len(found.all())


def receive_together(hub: Hub, bodies: list[dict[str, Any]], actor: str = "test") -> list[str]:
    """Several orders written by one intake batch, routed on receipt."""
    with transaction(hub.runtime.engine) as conn:
        prepared = prepare_orders(
            [NewOrder(WorkOrderSubmission.model_validate(b), actor) for b in bodies],
            allocate_serials(conn, len(bodies)),
            catalogue=hub.runtime.catalogue,
            now=utcnow(),
            response_minutes=30,
        )
        routing = hub.runtime.route_on_receipt([p.row for p in prepared])
        write_orders(conn, prepared, routing)
    return [p.receipt.wo_no for p in prepared]


def test_orders_are_routed_by_the_intake_and_delivered_once(hub: Hub, keys: Any) -> None:
    wo_nos = [
        hub.complaint(keys.staff, category, f"{title}{n}", f"{content}（第{n}件）")
        for n in range(2)
        for category, title, content in KINDS
    ]
    for wo_no in wo_nos:
        order = hub.wait_for(
            keys.staff,
            wo_no,
            lambda o: [a["delivery_state"] for a in o["assignments"]] == ["delivered"],
        )
        assert order["status"] == "dispatched"
        actions = [e["action"] for e in hub.timeline(wo_no)["events"]]
        assert actions[0] == "received" and actions.count("dispatched") == 1
    assert route_messages(hub, wo_nos) == Counter()  # routed in the intake's transaction
    assert tasks_per_order(hub) == Counter(wo_nos)


def test_a_repeat_in_the_same_intake_batch_is_left_to_the_route_queue(
    quiet_hub: Hub, keys: Any
) -> None:
    hub = quiet_hub
    first, second = receive_together(hub, [LAMP, REPEAT])
    assert hub.order(keys.staff, first)["status"] == "triaged"  # routed, to be sent
    assert hub.order(keys.staff, second)["status"] == "received"
    assert route_messages(hub, [first, second]) == Counter({second: 1})
    assert hub.runtime.router().route_many([second]) == ["merged"]
    assert hub.order(keys.staff, second)["duplicate_of"] == first


def test_a_failed_routing_write_leaves_the_orders_received_and_the_intake_whole(
    quiet_hub: Hub, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = quiet_hub
    real_insert = routing.workflow.insert_changed

    def written_then_failed(*args: Any) -> None:
        real_insert(*args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(routing.workflow, "insert_changed", written_then_failed)
    state = hub.client.app.state.hub  # type: ignore[attr-defined]
    state.writer.route = hub.runtime.route_on_receipt
    wo_no = hub.submit(keys.portal, **LAMP)["wo_no"]  # 201: received all the same
    assert hub.order(keys.staff, wo_no)["status"] == "received"
    assert assignment_count(hub, wo_no) == 0  # the routing write was rolled back, alone
    assert [e["action"] for e in hub.timeline(wo_no)["events"]] == ["received"]
    assert route_messages(hub, [wo_no]) == Counter({wo_no: 1})

    monkeypatch.undo()
    assert hub.runtime.router().route_many([wo_no]) == ["dispatched"]
    assert assignment_count(hub, wo_no) == 1


FIRE = {
    "channel": "hotline",
    "appeal_type": "help",
    "title": "楼下着火了",
    "content": "幸福小区3号楼一楼着火了，浓烟很大，请马上来人！",
    "requester": {"name": "王芳", "phone": "13812341234"},
}
NOISE = {
    "channel": "app",
    "appeal_type": "complaint",
    "category_code": "ENV-NOISE",
    "title": "工地夜间施工噪音",
    "content": "工地每晚施工到凌晨，噪音很大。",
    "requester": {"name": "张三", "phone": "13812341234"},
}
#: What differs between two orders of the same content: their identity and moments.
OWN = {"id", "wo_no", "query_code_hash", "created_at", "updated_at", "at", "message_id", "key"}
MOMENTS = ("_due", "_at")


def stored(hub: Hub, wo_no: str) -> dict[str, Any]:
    """An order as the store holds it: its row, events, assignments and outbox messages,
    without what makes it this order rather than another of the same content."""

    def rows(table: Any, column: Any) -> list[dict[str, Any]]:
        query = select(table).where(column == wo_no).order_by(table.c.id)
        with hub.runtime.engine.connect() as conn:
            found = [dict(r) for r in conn.execute(query).mappings()]
        return [
            {
                k: (v.replace(wo_no, "#") if isinstance(v, str) else v)
                for k, v in r.items()
                if k not in OWN
            }
            for r in found
        ]

    def without_moments(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_moments(v) for k, v in value.items() if not k.endswith(MOMENTS)}
        return value

    [row] = rows(work_orders, work_orders.c.wo_no)
    order = without_moments({**row, "sla": without_moments(row["sla"])})
    return {
        "order": order,
        "events": rows(events, events.c.wo_no),
        "assignments": [
            {k: v for k, v in a.items() if not k.endswith(MOMENTS)}
            for a in rows(assignments, assignments.c.wo_no)
        ],
        "messages": [
            m["topic"] for m in rows(outbox, outbox.c.key) if m["topic"] != TOPIC_RECEIVED
        ],
    }


@pytest.mark.parametrize("body", [NOISE, FIRE], ids=["dispatched", "transferred"])
def test_an_order_routed_on_receipt_is_stored_as_the_route_queue_stores_it(
    quiet_hub: Hub, keys: Any, body: dict[str, Any]
) -> None:
    hub = quiet_hub
    [on_receipt] = receive_together(hub, [body], actor="staff:staff")
    through_queue = hub.submit(keys.staff, **body)["wo_no"]
    assert route_messages(hub, [on_receipt, through_queue]) == Counter({through_queue: 1})
    router = hub.runtime.router(hub.runtime.dispatcher.claims)  # as the route queue's
    [outcome] = router.route_many([through_queue])
    assert outcome in ("dispatched", "transferred")
    assert stored(hub, on_receipt) == stored(hub, through_queue)


ROUTED_HERE = pytest.mark.parametrize("body", [NOISE, LAMP], ids=["department", "village"])


@ROUTED_HERE
def test_the_router_leaves_its_dispatcher_the_order_as_stored(
    quiet_hub: Hub, body: dict[str, Any]
) -> None:
    """The same order a read would give, given out once."""
    claims = quiet_hub.runtime.dispatcher.claims
    assert claims is not None
    [wo_no] = receive_together(quiet_hub, [body])
    [kept] = claims.orders([wo_no]).values()
    with quiet_hub.runtime.engine.connect() as conn:
        assert kept == get_work_order(conn, wo_no)
    assert claims.orders([wo_no]) == {}


@ROUTED_HERE
def test_the_dispatcher_sends_an_order_routed_here_without_reading_it(
    quiet_hub: Hub, keys: Any, body: dict[str, Any]
) -> None:
    [wo_no] = receive_together(quiet_hub, [body])
    statements: list[str] = []
    listen = ("before_cursor_execute", lambda *args: statements.append(args[2]))
    event.listen(quiet_hub.runtime.engine, *listen)
    try:
        [deliveries] = quiet_hub.runtime.dispatcher.dispatch_many([(wo_no, None)])
    finally:
        event.remove(quiet_hub.runtime.engine, *listen)
    sent = "inbox" if body is LAMP else "delivered"  # the village's town has no connector
    assert [d.outcome for d in deliveries] == [sent]  # type: ignore[union-attr]
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in reads if "FROM work_orders" in s or "FROM assignments" in s]
    order = quiet_hub.order(keys.staff, wo_no)
    assert [a["delivery_state"] for a in order["assignments"]] == [sent]
