"""Write rounds: the writes a process hands in meanwhile share one transaction, on SQLite
and PostgreSQL; a job that fails is rolled back alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import pytest
from sqlalchemy import Connection, Engine, event, text

from hub.bus.ledger import Ledger
from hub.services.group_commit import GroupCommitter
from hub.services.write_rounds import WriteRounds, write_rounds
from hub.store.db import after_commit
from hub.store.schema import processed_messages


@pytest.fixture
def scratch(engine: Engine) -> Iterator[Engine]:
    """Two tables of its own; `child` checks its parent only at commit (deferred)."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE rounds_parent (id INTEGER PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE rounds_child (name VARCHAR(20) PRIMARY KEY, parent INTEGER"
                " REFERENCES rounds_parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    yield engine
    write_rounds(engine).close()


def commits(engine: Engine) -> list[int]:
    """A list that grows by one at each commit on the engine."""
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


def add(name: str, parent: int | None = None) -> Callable[[Connection], str]:
    def job(conn: Connection) -> str:
        conn.execute(text("INSERT INTO rounds_child VALUES (:n, :p)"), {"n": name, "p": parent})
        return name

    return job


def names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT name FROM rounds_child")).scalars())


def held(rounds: WriteRounds) -> tuple[threading.Event, Future[str]]:
    """A round that is running (its job waits for the event to be set)."""
    entered, release = threading.Event(), threading.Event()

    def job(conn: Connection) -> str:
        entered.set()
        assert release.wait(10)
        return add("first")(conn)

    first = rounds.submit(job)
    assert entered.wait(10)
    return release, first


def wait_for_jobs(rounds: WriteRounds, count: int) -> None:
    for _ in range(1000):
        if rounds.waiting >= count:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{count} jobs never waited")


def test_jobs_handed_in_during_a_round_share_the_next_transaction(scratch: Engine) -> None:
    rounds = write_rounds(scratch)
    release, first = held(rounds)
    seen = commits(scratch)
    later = [rounds.submit(add(f"job-{n}")) for n in range(3)]
    release.set()
    assert first.result(10) == "first"
    assert [f.result(10) for f in later] == ["job-0", "job-1", "job-2"]
    assert len(seen) == 2  # the running round, then one for the three that waited
    assert names(scratch) == ["first", "job-0", "job-1", "job-2"]


def test_a_failing_job_is_rolled_back_alone(scratch: Engine) -> None:
    rounds = write_rounds(scratch)
    release, first = held(rounds)
    ran: list[str] = []

    def half_then_fail(conn: Connection) -> None:
        add("half")(conn)
        after_commit(conn, lambda: ran.append("failed job"))
        raise ValueError("refused")

    def with_action(conn: Connection) -> str:
        after_commit(conn, lambda: ran.append("good job"))
        return add("good")(conn)

    bad, good = rounds.submit(half_then_fail), rounds.submit(with_action)
    release.set()
    assert first.result(10) == "first"
    assert good.result(10) == "good"
    with pytest.raises(ValueError, match="refused"):
        bad.result(10)
    assert names(scratch) == ["first", "good"]  # not "half"
    assert ran == ["good job"]  # the failed job's after-commit action was dropped


def test_a_round_whose_commit_fails_is_written_again_job_by_job(scratch: Engine) -> None:
    rounds = write_rounds(scratch)
    release, first = held(rounds)
    orphan = rounds.submit(add("orphan", parent=99))  # passes its savepoint, fails at commit
    good = rounds.submit(add("good"))
    release.set()
    assert first.result(10) == "first"
    assert good.result(10) == "good"
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        orphan.result(10)
    assert names(scratch) == ["first", "good"]


def test_the_intake_and_the_bus_ledger_write_in_the_same_round(scratch: Engine) -> None:
    """What one process writes in the background — here an intake batch (GroupCommitter)
    and the bus ledger — goes in one transaction when it comes together."""
    rounds = write_rounds(scratch)
    release, first = held(rounds)
    seen = commits(scratch)

    def write_batch(conn: Connection, names: list[str]) -> list[str]:
        return [add(name)(conn) for name in names]

    async def run(work: Callable[[], object]) -> object:
        return work()

    committer: GroupCommitter[str, list[str], str] = GroupCommitter(
        scratch, lambda jobs: jobs, write_batch, run
    )
    intake: list[str] = []
    submitting = threading.Thread(
        target=lambda: intake.append(asyncio.run(committer.submit("order-1")))
    )
    ledger = Ledger()
    ledger.settled("route", ["m-1"])
    flushing = threading.Thread(target=ledger.flush, args=(scratch,))
    submitting.start()
    flushing.start()
    wait_for_jobs(rounds, 2)
    release.set()
    submitting.join(10)
    flushing.join(10)
    assert first.result(10) == "first"
    assert intake == ["order-1"]
    assert len(seen) == 2  # the running round, then one for the intake and the ledger
    assert names(scratch) == ["first", "order-1"]
    with scratch.connect() as conn:
        settled = conn.execute(processed_messages.select()).all()
    assert [(row.consumer, row.message_id) for row in settled] == [("route", "m-1")]
