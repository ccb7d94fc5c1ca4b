"""Kill the hub at random moments while orders flow: none is lost, none dispatched twice.

Orders are submitted to a real `jingkai serve` (with the Idempotency-Key a channel uses, so
a submission cut off by a crash is sent again without making a second order). The process
that routes and dispatches is SIGKILLed several times and restarted. At the end every
order is in the store and each department system holds exactly one task per order,
counted by work-order number in the sandbox's own tables.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from crash_helpers import Process, api_process, hub_environment, run_cli, submit_until_accepted
from flow_helpers import rebased_connectors
from integration_helpers import SANDBOX_ENV, control, sandbox_for
from sqlalchemy import select

from hub.sandbox import Sandbox
from hub.sandbox.wiring import sandbox_secrets
from hub.store.db import engine_for
from hub.store.schema import assignments, inbox_items, work_orders

pytestmark = pytest.mark.slow

ORDERS = 48
KILLS = 3
SYSTEMS = ("weaver", "seeyon", "tongda")
BODIES: list[dict[str, Any]] = [
    {"category_code": "ENV-NOISE", "title": "工地夜间施工噪音", "content": "工地夜间施工扰民。"},
    {"category_code": "URB-MUCK-SPILL", "title": "渣土车撒漏", "content": "渣土车撒漏泥土。"},
    {"category_code": "HOUSING-QUALITY", "title": "新房墙体开裂", "content": "交房半年墙体开裂。"},
    {"category_code": "SOCIAL-SECURITY", "title": "社保转移咨询", "content": "社保关系转移。"},
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, *SYSTEMS) as running:
        yield running


def order_body(i: int) -> dict[str, Any]:
    body = BODIES[i % len(BODIES)]
    return {
        "channel": "app",
        "appeal_type": "complaint",
        "requester": {"name": "测试", "phone": "13812341234"},
        **body,
        "title": f"{body['title']}{i}",
        "content": f"{body['content']}（第{i}件，地点各不相同：{i}号路口）",
    }


def environment(sandbox: Sandbox, tmp_path: Path, database_url: str, **kw: Any) -> dict[str, str]:
    assert sandbox.tongda_database is not None
    secrets = {**SANDBOX_ENV, **sandbox_secrets(sandbox.tongda_database)}
    connectors = rebased_connectors(sandbox, tmp_path / "connectors")
    quick_recovery(connectors)
    return hub_environment(tmp_path, database_url, connectors, secrets, **kw)


def quick_recovery(connectors: Path) -> None:
    """Short timeouts, so the dispatch lease (longer than any call) expires in seconds and
    the test sees a killed worker's assignments taken over soon."""
    for path in connectors.glob("*.yaml"):
        config = yaml.safe_load(path.read_text("utf-8"))
        config["timeouts"] = {"connect": 1, "read": 3}
        config["retry"] = {
            **config.get("retry", {}),
            "attempts": 2,
            "backoff": {"base": 0.1, "cap": 0.5},
            "max_retry_after": 1,
        }
        path.write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")


def submit_all(url_of: Any, key: str, results: dict[int, str]) -> None:
    for i in range(ORDERS):
        results[i] = submit_until_accepted(url_of(), key, order_body(i), f"crash-{i}")
        time.sleep(random.uniform(0.0, 0.05))


def all_delivered(database_url: str) -> tuple[bool, Counter[str]]:
    engine = engine_for(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(assignments.c.delivery_state)).scalars().all()
        orders = conn.execute(select(work_orders.c.status)).scalars().all()
    states = Counter(rows)
    routed = all(s != "received" for s in orders) and len(orders) == ORDERS
    return routed and set(states) <= {"delivered", "inbox"} and bool(states), states


def finish(submitter: threading.Thread, database_url: str) -> None:
    """Every submission accepted, then every order routed and delivered (sweeps included)."""
    submitter.join(180)
    assert not submitter.is_alive()
    deadline = time.monotonic() + 120
    done, states = all_delivered(database_url)
    while not done:
        assert time.monotonic() < deadline, f"not all delivered: {states}"
        time.sleep(0.5)
        done, states = all_delivered(database_url)


def tasks_per_order(sandbox: Sandbox, database_url: str) -> Counter[str]:
    """Tasks in the department systems (and the hub inbox), counted by work-order number."""
    count: Counter[str] = Counter()
    for system in ("weaver", "seeyon"):
        count.update(t["hub_wo_no"] for t in control(sandbox, system, "GET", "/tasks"))
    count.update(t["task_no"] for t in control(sandbox, "tongda", "GET", "/tasks"))
    with engine_for(database_url).connect() as conn:
        count.update(
            conn.execute(
                select(inbox_items.c.wo_no).where(inbox_items.c.kind == "dispatch")
            ).scalars()
        )
    return count


def test_sigkill_the_embedded_hub_while_orders_flow(sandbox: Sandbox, tmp_path: Path) -> None:
    for system in SYSTEMS:
        control(sandbox, system, "POST", "/reset")
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    env = environment(sandbox, tmp_path, database_url)
    run_cli(env, "init")
    key = run_cli(env, "keys", "create", "--scope", "staff", "--name", "crash").splitlines()[-1]
    api = api_process(env, tmp_path / "api.log")
    api.start()
    api.wait_ready()

    results: dict[int, str] = {}
    submitter = threading.Thread(target=submit_all, args=(lambda: api.url, key, results))
    submitter.start()
    rng = random.Random(4)
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            api.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            api.start()
            api.wait_ready()
        finish(submitter, database_url)
    finally:
        api.stop()

    assert len(set(results.values())) == ORDERS  # every submission is one order
    tasks = tasks_per_order(sandbox, database_url)
    assert set(tasks) == set(results.values())  # none lost
    assert set(tasks.values()) == {1}  # none dispatched twice
    assert api.starts == KILLS + 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_sigkill_workers_and_the_api_with_rabbitmq(
    sandbox: Sandbox, tmp_path: Path, database_url: str, amqp_url: str
) -> None:
    """Production shape: the API publishes, two `jingkai worker`s route and dispatch."""
    for system in SYSTEMS:
        control(sandbox, system, "POST", "/reset")
    env = environment(sandbox, tmp_path, database_url, broker_url=amqp_url, embedded_worker=False)
    env["HUB_BUS_PREFIX"] = f"crash{uuid.uuid4().hex[:6]}."
    key = run_cli(env, "keys", "create", "--scope", "staff", "--name", "crash").splitlines()[-1]
    api = api_process(env, tmp_path / "api.log")
    workers = [Process(["worker"], env, tmp_path / f"worker{n}.log") for n in (1, 2)]
    for process in (api, *workers):
        process.start()
    api.wait_ready()

    results: dict[int, str] = {}
    submitter = threading.Thread(target=submit_all, args=(lambda: api.url, key, results))
    submitter.start()
    rng = random.Random(7)
    victims: list[Process] = [workers[0], workers[1], api, workers[0]]
    try:
        for victim in victims:
            time.sleep(rng.uniform(0.3, 1.2))
            victim.kill()
            time.sleep(rng.uniform(0.0, 0.4))
            victim.start()
            if victim is api:
                api.wait_ready()
        finish(submitter, database_url)
    finally:
        for process in (api, *workers):
            process.stop()

    assert len(set(results.values())) == ORDERS
    tasks = tasks_per_order(sandbox, database_url)
    assert set(tasks) == set(results.values())  # none lost
    assert set(tasks.values()) == {1}  # none dispatched twice
    assert (api.starts, workers[0].starts, workers[1].starts) == (2, 3, 2)
