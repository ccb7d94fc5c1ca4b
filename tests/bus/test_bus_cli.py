"""`jingkai dlq` for bus letters, and `jingkai worker` as a real process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from bus_helpers import (
    FAST,
    Recorder,
    add_outbox,
    delete_topology,
    letters,
    private_bus,
    processed,
    wait_until,
)
from sqlalchemy import Engine, select

from hub.bus import start_bus
from hub.bus.runner import topology_for
from hub.cli import main
from hub.config import Settings, get_settings
from hub.store.db import engine_for
from hub.store.schema import outbox

JINGKAI = Path(sys.executable).parent / "jingkai"


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`main([...])` in this process, configured like the console script through the env."""
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_dlq_replay_sends_a_bus_letter_round_again(
    engine: Engine,
    settings: Settings,
    broker_url: str,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = replace(settings, broker_url=broker_url)
    payload = {"wo_no": "JK202501010000001", "phone": "13812341234"}
    with private_bus(broker_url, replace(FAST, max_attempts=1)) as bus:
        failing = Recorder(then=RuntimeError("路由规则缺失 (no rule) 13812341234"))
        with start_bus(engine, settings, {"route": failing}, topology=bus.topology):
            (first_id,) = add_outbox(engine, 1, payload=payload)
            wait_until(lambda: len(letters(engine)) == 1, what="a dead letter")
        (letter,) = letters(engine)

        assert main(["dlq", "list", "--source", "bus", "--show-payload"]) == 0
        listed = capsys.readouterr().out
        assert f"#{letter.id} bus/route 待处理 pending" in listed
        assert "RuntimeError: 路由规则缺失 (no rule) 13812341234" not in listed
        assert "RuntimeError: 路由规则缺失 (no rule) 138****1234" in listed  # reason masked too
        assert "13812341234" not in listed and "138****1234" in listed  # masked

        assert main(["dlq", "replay", str(letter.id)]) == 0
        assert f"#{letter.id}: ✓ 重新入队 requeued as" in capsys.readouterr().out
        with engine.connect() as conn:
            again = conn.execute(select(outbox).order_by(outbox.c.id.desc())).first()
        assert again is not None and again.published_at is None
        assert (again.topic, again.key, again.payload) == (
            "work_order.received",
            "JK20250100000000",
            payload,
        )
        assert again.message_id != first_id

        fixed = Recorder()
        with start_bus(engine, settings, {"route": fixed}, topology=bus.topology) as runner:
            runner.wake()
            wait_until(lambda: again.message_id in processed(engine), what="the replayed message")
        assert [(m.message_id, m.payload) for m in fixed.calls] == [(again.message_id, payload)]
    assert main(["dlq", "list"]) == 0
    assert capsys.readouterr().out.strip() == ""  # replayed letters are no longer pending
    assert letters(engine)[0].replayed_at is not None
    assert json.loads(letters(engine)[0].payload)["message_id"] == first_id


def worker_env(database_url: str, broker_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_HOME=str(home),
        HUB_DATABASE_URL=database_url,
        HUB_BROKER_URL=broker_url,
        PYTHONIOENCODING="utf-8",
    )
    return env


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: the relay's claims on both databases are tested in process already."""
    target = tmp_path / "hub.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


def test_worker_relays_until_sigterm(sqlite_url: str, broker_url: str, tmp_path: Path) -> None:
    """The real console script: it starts, relays the outbox, and stops cleanly on SIGTERM.

    It uses the hub's own queue names, so on RabbitMQ they are deleted from the test vhost
    afterwards.
    """
    engine = engine_for(sqlite_url)
    database_url = sqlite_url
    worker = subprocess.Popen(
        [str(JINGKAI), "worker"],
        env=worker_env(database_url, broker_url, tmp_path / "home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        started = worker.stdout.readline()
        assert "worker started" in started, started + worker.stderr.read()
        assert "jingkai_test:**" in started or broker_url == "memory://"  # password hidden
        (message_id,) = add_outbox(engine, 1)
        query = select(outbox.c.published_at).where(outbox.c.message_id == message_id)

        def published() -> bool:
            with engine.connect() as conn:
                return conn.execute(query).scalar_one() is not None

        wait_until(published, timeout=20, what="the worker's relay")
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
        assert worker.returncode == 0, err
        assert "已停止 stopped" in out
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if broker_url != "memory://":
            delete_topology(broker_url, topology_for(Settings(home=tmp_path)))


def test_worker_refuses_unknown_queues(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        assert main(["worker", "--queues", "route,nope"]) == 2
    finally:
        get_settings.cache_clear()
    assert "未知队列 (unknown queues): nope" in capsys.readouterr().err
