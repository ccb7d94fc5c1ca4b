"""Routing and dispatch in batches (what the bus consumers do under load), against the
sandbox systems: one outcome per order, repeats in one batch still merged, a conflicting
write decided again, and every task created exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from flow_helpers import LAMP, Hub
from sqlalchemy import Connection, update

from hub.model.base import utcnow
from hub.services import routing, workflow
from hub.store.schema import work_orders

pytest_plugins = ["flow_fixtures"]

KINDS = [
    ("ENV-NOISE", "工地夜间施工噪音", "工地每晚施工到凌晨，噪音很大。"),
    ("URB-MUCK-SPILL", "渣土车撒漏", "渣土车沿路撒漏泥土，尘土飞扬。"),
    ("HOUSING-QUALITY", "新房墙体开裂", "交房半年墙体多处开裂渗水。"),
]


def six_orders(hub: Hub, key: str) -> list[str]:
    return [
        hub.complaint(key, category, f"{title}{n}", f"{content}（第{n}件）")
        for n in range(2)
        for category, title, content in KINDS
    ]


def tasks_per_order(hub: Hub) -> Counter[str]:
    count: Counter[str] = Counter()
    for system in ("weaver", "seeyon"):
        count.update(t["hub_wo_no"] for t in hub.control(system, "GET", "/tasks"))
    count.update(t["task_no"] for t in hub.control("tongda", "GET", "/tasks"))
    return count


def test_a_batch_gets_one_outcome_per_order_and_one_task_each(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    wo_nos = six_orders(hub, keys.staff)
    routed = hub.runtime.router().route_many([*wo_nos, "JK000000000000"])
    assert routed[:6] == ["dispatched"] * 6
    assert isinstance(routed[6], workflow.NotFound)
    assert hub.runtime.router().route_many(wo_nos) == ["skipped"] * 6  # routed once only

    found = hub.runtime.dispatcher.dispatch_many([(wo_no, None) for wo_no in wo_nos])
    assert [[d.outcome for d in deliveries] for deliveries in found] == [["delivered"]] * 6
    assert tasks_per_order(hub) == Counter(wo_nos)
    for wo_no in wo_nos:
        order = hub.order(keys.staff, wo_no)
        assert order["status"] == "dispatched"
        [assignment] = order["assignments"]
        assert assignment["delivery_state"] == "delivered" and assignment["external_id"]
        actions = [e["action"] for e in hub.timeline(wo_no)["events"]]
        assert actions.count("dispatched") == 1

    again = hub.runtime.dispatcher.dispatch_many([(wo_no, None) for wo_no in wo_nos])
    assert again == [[]] * 6  # nothing left to deliver
    assert tasks_per_order(hub) == Counter(wo_nos)


def test_repeats_in_one_batch_are_merged_not_dispatched_twice(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    first = hub.submit(keys.portal, **LAMP)["wo_no"]
    repeat = {**LAMP, "content": "前进村东头那三盏路灯还是不亮，晚上走路很黑。"}
    second = hub.submit(keys.portal, **repeat)["wo_no"]
    assert hub.runtime.router().route_many([first, second]) == ["dispatched", "merged"]
    assert hub.order(keys.staff, second)["duplicate_of"] == first
    assert hub.order(keys.staff, first)["merged"] == [second]


def test_a_batch_write_that_meets_a_conflict_is_decided_again(
    quiet_hub: Hub, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer changes one order between the batch's read and its write: the batch
    is rolled back and every order routed on its own, each exactly once."""
    hub = quiet_hub
    wo_nos = six_orders(hub, keys.staff)
    real_write_many = workflow.write_many
    writes: list[int] = []

    def another_writer_first(conn: Connection, decided: Any, now: Any, claims: Any = None) -> None:
        writes.append(len(decided))
        if len(writes) == 1:
            conn.execute(
                update(work_orders)
                .where(work_orders.c.wo_no == wo_nos[3])
                .values(version=work_orders.c.version + 1)
            )
        real_write_many(conn, decided, now, claims)

    monkeypatch.setattr(routing.workflow, "write_many", another_writer_first)
    assert hub.runtime.router().route_many(wo_nos) == ["dispatched"] * 6
    assert writes[0] == 6 and len(writes) > 1  # the batch, then one by one
    for wo_no in wo_nos:
        assert len(hub.order(keys.staff, wo_no)["assignments"]) == 1


def test_the_embedded_sweep_leaves_fresh_tasks_to_the_bus(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    wo_no = hub.complaint(keys.staff, "URB-MUCK-SPILL", "渣土车撒漏", "渣土车沿长江大道撒漏泥土。")
    assert hub.runtime.router().route(wo_no) == "dispatched"
    assert hub.runtime.sweep_dispatch(older_than=timedelta(seconds=30)).done == {}
    assert hub.runtime.sweep_dispatch().done == {"delivered": 1}


def test_calls_overlap_only_as_far_as_each_connector_allows(quiet_hub: Hub, keys: Any) -> None:
    """Seeyon takes up to 8 calls at once (the default); Tongda, written to directly in its
    database, one at a time (its shipped file says so) — and either way each order gets
    exactly one task."""
    hub = quiet_hub
    dispatcher = hub.runtime.dispatcher
    assert dispatcher._senders("tongda_housing") is None
    seeyon = dispatcher._senders("seeyon_urban")
    assert seeyon is not None and seeyon._max_workers == 8
    wo_nos = [
        hub.complaint(keys.staff, category, f"{title}{n}", content)
        for n in range(4)
        for category, title, content in KINDS[1:]
    ]
    assert hub.runtime.router().route_many(wo_nos) == ["dispatched"] * 8
    found = dispatcher.dispatch_many([(wo_no, None) for wo_no in wo_nos])
    assert [[d.outcome for d in deliveries] for deliveries in found] == [["delivered"]] * 8
    assert tasks_per_order(hub) == Counter(wo_nos)


def test_a_batch_is_handed_back_while_its_calls_are_out(
    quiet_hub: Hub, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dispatch_sent returns once the calls are started, so the bus consumer can take its
    next batch; its Future is done when every answer is recorded."""
    hub = quiet_hub
    dispatcher = hub.runtime.dispatcher
    wo_nos = [hub.complaint(keys.staff, *KINDS[1][:2], f"{KINDS[1][2]}{n}") for n in range(2)]
    assert hub.runtime.router().route_many(wo_nos) == ["dispatched"] * 2
    release, started = threading.Event(), threading.Semaphore(0)
    real_attempt = dispatcher._attempt

    def held(*args: Any) -> Any:
        started.release()
        assert release.wait(10)
        return real_attempt(*args)

    monkeypatch.setattr(dispatcher, "_attempt", held)
    pending = dispatcher.dispatch_sent([(wo_no, None) for wo_no in wo_nos])
    assert started.acquire(timeout=10) and started.acquire(timeout=10)  # both calls are out
    assert not pending.done()
    release.set()
    found = pending.result(10)
    assert [[d.outcome for d in deliveries] for deliveries in found] == [["delivered"]] * 2
    assert tasks_per_order(hub) == Counter(wo_nos)


def test_assignments_the_router_leases_here_skip_the_dispatchers_claim(
    quiet_hub: Hub, keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the in-process bus the router creates assignments already leased to this
    process's dispatcher: no claim transaction for them, still one task each; a lease the
    router here did not make (another process's) is not taken."""
    hub = quiet_hub
    dispatcher = hub.runtime.dispatcher
    assert dispatcher.claims is not None  # the embedded default: memory://
    wo_nos = six_orders(hub, keys.staff)
    routed = hub.runtime.router(dispatcher.claims).route_many(wo_nos)
    assert routed == ["dispatched"] * 6
    for wo_no in wo_nos:
        [assignment] = hub.order(keys.staff, wo_no)["assignments"]
        assert (assignment["delivery_state"], assignment["attempts"]) == ("sent", 1)
        assert assignment["next_attempt_at"] is not None  # leased
    claimed: list[int] = []
    real_claim = dispatcher._claim_many

    def counted(claims: Any, now: Any) -> dict[int, int]:
        claimed.extend(a.id for a in claims)
        return real_claim(claims, now)

    monkeypatch.setattr(dispatcher, "_claim_many", counted)
    stranger = wo_nos.pop()  # as if another process's router had leased it
    dispatcher.claims.take(stranger, _first_assignment(hub, stranger), utcnow())
    found = dispatcher.dispatch_many([(wo_no, None) for wo_no in [*wo_nos, stranger]])
    assert [[d.outcome for d in deliveries] for deliveries in found] == [["delivered"]] * 5 + [
        ["skipped"]  # its lease is not ours: it waits for the lease to end, then a sweep
    ]
    assert len(claimed) == 1  # only the stranger's assignment went through a claim
    assert tasks_per_order(hub) == Counter(wo_nos)


def _first_assignment(hub: Hub, wo_no: str) -> Any:
    with hub.runtime.engine.connect() as conn:
        return workflow.load(conn, wo_no).assignments[0]
