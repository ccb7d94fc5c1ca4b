"""Matter sync from the sandbox Hebei network: add, change, suspend, delete, idempotent
re-runs, fingerprints, and a cursor that resumes after a failure mid-batch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from matter_helpers import control, hebei_puller
from sqlalchemy import Engine, delete, func, select

from hub.adapters.base import Page
from hub.adapters.errors import AdapterError
from hub.mapping import load_mapping
from hub.model.base import LOCAL_ZONE
from hub.sandbox import Sandbox, running_sandbox
from hub.sandbox.hebei_seed import FOOD_LICENCE_TASK_CODE
from hub.store.cursors import get_cursor
from hub.store.db import transaction
from hub.store.fingerprints import forget
from hub.store.matters import get_matter, matter_versions
from hub.store.schema import (
    dead_letters,
    service_matter_search,
    service_matter_versions,
    service_matters,
    sync_cursors,
    sync_fingerprints,
    sync_pages,
)

SEEDED = 250


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("hebei"), systems=["hebei"]) as running:
        yield running


@pytest.fixture(autouse=True)
def seeded(sandbox: Sandbox) -> None:
    control(sandbox, "POST", "/reset")
    control(sandbox, "POST", "/seed", json={"matters": SEEDED})


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def pull(engine: Engine, sandbox: Sandbox, **options: Any) -> Any:
    return hebei_puller(engine, sandbox, "matters", **options).pull()


def later() -> None:
    """The next change must get a later cd_time (seconds resolution at the source)."""
    time.sleep(1.05)


def test_first_sync_adds_every_matter_with_one_version_and_search_rows(
    engine: Engine, sandbox: Sandbox
) -> None:
    result = pull(engine, sandbox)
    assert (result.records, result.inserted, result.dead_letters) == (SEEDED, SEEDED, 0)
    assert count(engine, service_matters) == SEEDED
    assert count(engine, service_matter_versions) == SEEDED
    assert count(engine, service_matter_search) == SEEDED
    assert count(engine, sync_fingerprints) == SEEDED
    with engine.connect() as conn:
        food = get_matter(conn, FOOD_LICENCE_TASK_CODE)
        cursor = get_cursor(conn, "hebei_network", "matters")
    assert food is not None and food.name == "食品经营许可"
    assert cursor == "2025-01-01 08:29:03"  # the 250th matter's cd_time (7 s apart)


def test_rerun_writes_nothing_and_skips_what_it_has_seen(engine: Engine, sandbox: Sandbox) -> None:
    pull(engine, sandbox)
    again = pull(engine, sandbox)
    # the 10-minute lookback re-reads the last 86 matters: all known, none mapped again
    assert again.records == 86 and again.skipped == 86
    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 86)
    assert count(engine, service_matter_versions) == SEEDED


def test_full_reread_writes_nothing_with_or_without_fingerprints(
    engine: Engine, sandbox: Sandbox
) -> None:
    pull(engine, sandbox)
    with transaction(engine) as conn:
        conn.execute(delete(sync_cursors))
    reread = pull(engine, sandbox)
    assert (reread.records, reread.skipped, reread.inserted, reread.changed) == (
        SEEDED,
        SEEDED,
        0,
        0,
    )
    with transaction(engine) as conn:  # forget the fingerprints: mapped and compared again
        conn.execute(delete(sync_cursors))
        assert forget(conn, "hebei_network", "matters") == SEEDED
    compared = pull(engine, sandbox)
    assert (compared.skipped, compared.unchanged, compared.changed) == (0, SEEDED, 0)
    assert count(engine, service_matter_versions) == SEEDED
    assert count(engine, sync_fingerprints) == SEEDED


def test_a_change_is_a_new_version_from_the_change_time(
    engine: Engine, sandbox: Sandbox, client: TestClient
) -> None:
    pull(engine, sandbox)
    later()
    food = f"/matters/{FOOD_LICENCE_TASK_CODE}"
    changed = control(sandbox, "PATCH", food, json={"promise_day": 7})
    result = pull(engine, sandbox)
    assert (result.changed, result.inserted) == (1, 0)
    with engine.connect() as conn:
        versions = matter_versions(conn, FOOD_LICENCE_TASK_CODE)
    assert [v["version_no"] for v in versions] == [1, 2]
    change_time = datetime.strptime(changed["cd_time"], "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=LOCAL_ZONE
    )
    assert versions[0]["valid_to"] == versions[1]["valid_from"] == change_time
    assert versions[1]["data"]["promised_limit"]["value"] == 7

    detail = client.get(f"/api/v1/service-matters/{FOOD_LICENCE_TASK_CODE}").json()
    assert detail["version_no"] == 2 and detail["promised_limit"]["value"] == 7
    assert detail["versions"][1]["changes"] == [
        {"field": "promised_limit", "before": {"value": 10, "unit": "working_day", "note": None},
         "after": {"value": 7, "unit": "working_day", "note": None}},
    ]  # fmt: skip
    assert detail["versions"][1]["source_version"] == "2"
    assert client.get("/api/v1/service-matters/NOPE").status_code == 404


def test_suspended_and_deleted_matters_are_marked_never_erased(
    engine: Engine, sandbox: Sandbox, client: TestClient
) -> None:
    pull(engine, sandbox)
    with engine.connect() as conn:
        codes = (
            conn.execute(
                select(service_matters.c.implementation_code)
                .order_by(service_matters.c.implementation_code)
                .limit(2)
            )
            .scalars()
            .all()
        )
    later()
    control(sandbox, "POST", f"/matters/{codes[0]}/suspend")
    control(sandbox, "DELETE", f"/matters/{codes[1]}")
    result = pull(engine, sandbox)
    assert result.changed == 2
    assert count(engine, service_matters) == SEEDED  # nothing erased
    with engine.connect() as conn:
        rows = conn.execute(
            select(service_matters.c.implementation_code, service_matters.c.status).where(
                service_matters.c.implementation_code.in_(codes)
            )
        )
        statuses = {code: status for code, status in rows}
        history = matter_versions(conn, codes[1])
    assert statuses == {codes[0]: "suspended", codes[1]: "deleted"}
    assert [v["status"] for v in history] == ["active", "deleted"]
    listed = client.get("/api/v1/service-matters", params={"limit": 100, "offset": 200}).json()
    assert listed["total"] == SEEDED - 2
    gone = client.get("/api/v1/service-matters", params={"status": "deleted"}).json()
    assert [m["implementation_code"] for m in gone["items"]] == [codes[1]]


def test_a_new_matter_at_the_source_is_added(engine: Engine, sandbox: Sandbox) -> None:
    pull(engine, sandbox)
    later()
    control(
        sandbox,
        "POST",
        "/matters",
        json={
            "task_code": "11130199MB6676120L999001",
            "catalog_code": "0199900001",
            "task_name": "公共场所卫生许可",
            "dept_code": "11130199MB6676120L",
            "dept_name": "经开区卫生健康局",
            "anticipate_day": 20,
            "promise_day": 5,
            "limit_scene_num": 0,
            "is_online": "1",
            "online_handle_url": "https://www.hbzwfw.gov.cn/y",
        },
    )
    result = pull(engine, sandbox)
    assert (result.inserted, result.changed) == (1, 0)
    with engine.connect() as conn:
        added = get_matter(conn, "11130199MB6676120L999001")
    assert added is not None and added.unit_code == "JKQ-WJJ" and added.visits_required == 0


class FailsAfter:
    """The real adapter, until the connection drops after `good` pages."""

    def __init__(self, inner: Any, good: int) -> None:
        self.inner, self.good, self.calls = inner, good, 0

    def fetch_page(self, stream: str, cursor: str | None, token: str | None) -> Page:
        self.calls += 1
        if self.calls > self.good:
            raise AdapterError("连接中断 (connection lost)", retryable=True)
        page: Page = self.inner.fetch_page(stream, cursor, token)
        return page

    def close(self) -> None:
        self.inner.close()


def test_cursor_resumes_after_a_failure_mid_batch(engine: Engine, sandbox: Sandbox) -> None:
    real = hebei_puller(engine, sandbox, "matters").adapter
    broken = hebei_puller(engine, sandbox, "matters", adapter=FailsAfter(real, good=2))
    with pytest.raises(AdapterError):
        broken.pull()
    # the two pages before the failure are stored, with the cursor of the second
    assert count(engine, service_matters) == 200
    with engine.connect() as conn:
        assert get_cursor(conn, "hebei_network", "matters") == "2025-01-01 08:23:13"
    resumed = pull(engine, sandbox)
    assert resumed.inserted == SEEDED - 200
    assert resumed.skipped == resumed.records - (SEEDED - 200)  # the lookback, already seen
    assert count(engine, service_matters) == SEEDED
    assert count(engine, service_matter_versions) == SEEDED
    with engine.connect() as conn:
        assert get_cursor(conn, "hebei_network", "matters") == "2025-01-01 08:29:03"


def test_a_mapping_change_maps_every_record_again(
    engine: Engine, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The fingerprint covers the mapping file: edit it and nothing is skipped."""
    pull(engine, sandbox)
    with transaction(engine) as conn:
        conn.execute(delete(sync_cursors))
    shipped = hebei_puller(engine, sandbox, "matters").mapping.path
    edited = tmp_path / "hebei_matter.yaml"
    edited.write_bytes(shipped.read_bytes() + b"\n# edited\n")
    result = hebei_puller(engine, sandbox, "matters", mapping=load_mapping(edited)).pull()
    assert (result.skipped, result.unchanged, result.changed) == (0, SEEDED, 0)


def test_pages_seen_whole_before_are_not_even_parsed(
    engine: Engine, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    pull(engine, sandbox)
    with transaction(engine) as conn:
        conn.execute(delete(sync_cursors))

    def unread(*_: Any) -> None:
        raise AssertionError("a page seen before was parsed again")

    with monkeypatch.context() as patch:
        patch.setattr("hub.services.sync.read_page", unread)
        reread = pull(engine, sandbox)
    assert (reread.records, reread.skipped, reread.pages) == (SEEDED, SEEDED, 3)
    with engine.connect() as conn:
        assert get_cursor(conn, "hebei_network", "matters") == "2025-01-01 08:29:03"
    # one change shifts the pages after it: those are read record by record again
    later()
    control(sandbox, "PATCH", f"/matters/{FOOD_LICENCE_TASK_CODE}", json={"promise_day": 7})
    with transaction(engine) as conn:
        conn.execute(delete(sync_cursors))
    shifted = pull(engine, sandbox)
    assert (shifted.records, shifted.changed, shifted.inserted) == (SEEDED, 1, 0)
    assert shifted.skipped == SEEDED - 1


def test_a_page_that_cannot_be_stored_stops_the_run_at_the_page_before(
    engine: Engine, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are stored in a writer thread while the next is mapped: a store that fails
    stops the run, nothing after it is stored, and the cursor is the last committed one."""
    from hub.services import sinks

    real = sinks.SINKS["service_matter"]
    calls: list[int] = []

    def fails_second(conn: Any, records: Any, context: Any) -> Any:
        calls.append(len(records))
        if len(calls) == 2:
            raise RuntimeError("磁盘已满 (disk full)")
        return real(conn, records, context)

    monkeypatch.setitem(sinks.SINKS, "service_matter", fails_second)
    with pytest.raises(RuntimeError, match="disk full"):
        pull(engine, sandbox)
    # the second store holds page 2, with page 3 too if it was waiting already
    assert calls[0] == 100 and len(calls) == 2
    assert count(engine, service_matters) == 100
    with engine.connect() as conn:
        assert get_cursor(conn, "hebei_network", "matters") == "2025-01-01 08:11:33"
    monkeypatch.setitem(sinks.SINKS, "service_matter", real)
    resumed = pull(engine, sandbox)
    assert resumed.inserted == SEEDED - 100
    assert count(engine, service_matter_versions) == SEEDED


def slow_first_store(monkeypatch: pytest.MonkeyPatch, then: Any = None) -> list[int]:
    """The first page's store takes a second: pages 2 and 3 (mapped in some 30 ms) are
    waiting when it ends and go into the writer's next transaction together. `then`
    replaces the sink for the later calls."""
    from hub.services import sinks

    real = sinks.SINKS["service_matter"]
    calls: list[int] = []

    def sink(conn: Any, records: Any, context: Any) -> Any:
        calls.append(len(records))
        if len(calls) == 1:
            time.sleep(1.0)
        elif then is not None:
            return then(conn, records, context)
        return real(conn, records, context)

    monkeypatch.setitem(sinks.SINKS, "service_matter", sink)
    return calls


def test_a_failed_grouped_store_leaves_the_cursor_at_the_last_committed_page(
    engine: Engine, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(conn: Any, records: Any, context: Any) -> Any:
        raise RuntimeError("磁盘已满 (disk full)")

    with monkeypatch.context() as patch:
        calls = slow_first_store(patch, then=fails)
        with pytest.raises(RuntimeError, match="disk full"):
            pull(engine, sandbox)
    assert calls == [100, 150]  # pages 2 and 3 in one transaction, which failed whole
    assert count(engine, service_matters) == count(engine, sync_fingerprints) == 100
    with engine.connect() as conn:
        assert get_cursor(conn, "hebei_network", "matters") == "2025-01-01 08:11:33"
    resumed = pull(engine, sandbox)
    assert resumed.inserted == SEEDED - 100
    assert count(engine, service_matter_versions) == SEEDED


def test_a_grouped_store_keeps_dead_letters_and_known_pages_per_page(
    engine: Engine, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    control(
        sandbox,
        "POST",
        "/matters",
        json={"task_code": "11130199MB6676120L999002", "catalog_code": "0199900002",
              "task_name": "类型不明的事项", "task_type": "99", "dept_code": "11130199MB6676120L",
              "dept_name": "经开区卫生健康局"},
    )  # fmt: skip
    with monkeypatch.context() as patch:
        calls = slow_first_store(patch)
        result = pull(engine, sandbox)
    assert calls == [100, 150]  # page 3: 50 good records and the bad one
    assert (result.records, result.inserted, result.dead_letters) == (SEEDED + 1, SEEDED, 1)
    with engine.connect() as conn:
        letters = conn.execute(select(dead_letters.c.field_path)).scalars().all()
        pages = conn.execute(select(func.count()).select_from(sync_pages)).scalar_one()
    assert letters == ["matter_type"]
    assert pages == 2  # the page with the dead letter is read record by record next time
    with transaction(engine) as conn:
        conn.execute(delete(sync_cursors))
    again = pull(engine, sandbox)
    assert (again.skipped, again.dead_letters, again.inserted) == (SEEDED, 1, 0)
