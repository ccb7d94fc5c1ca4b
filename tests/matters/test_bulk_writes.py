"""The fast write path of the catalogue sync stores exactly what the plain path stored:
the same JSON text and content hash per matter, the same datetimes, the same rows however
a batch is cut into statements — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from matter_helpers import matter, store
from pydantic_core import to_json
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

import hub.store.bulk as bulk
from hub.model.service_matter import ServiceMatter
from hub.store.db import json_text, transaction
from hub.store.matters import content_hash, encode_matter, matter_versions
from hub.store.schema import service_matter_grams, service_matter_search, service_matters
from hub.store.search import MatterQuery, bigrams, normalise, search_matters
from hub.store.types import UtcDateTime


def _variety() -> list[ServiceMatter]:
    return [
        matter("1", "食品经营许可"),
        matter("2", "药品零售许可", keywords=["药店", "零售药店", ""], online=False),
        matter("3", "建设工程规划许可", changed_at=None, online_url=None),
        matter(
            "4",
            'Ｆｕｌｌ宽度 "引号" & <尖括号>',
            changed_at=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=ZoneInfo("Asia/Shanghai")),
        ),
    ]


def test_encoded_matters_are_what_model_dump_gave() -> None:
    for each in _variety():
        data = each.model_dump(mode="json")
        assert encode_matter(each) == (json_text(data), content_hash(data))


def test_a_matter_serialised_another_way_takes_the_long_way() -> None:
    class Reordered(ServiceMatter):
        extra_note: str = "附注"  # a field after changed_at: the tail test fails

    each = Reordered.model_validate(_variety()[0].model_dump())
    data = each.model_dump(mode="json")
    assert encode_matter(each) == (json_text(data), content_hash(data))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 1, 1, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 9, 0, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        None,
    ],
)
def test_sqlite_datetimes_are_what_sqlalchemy_writes(moment: datetime | None) -> None:
    dialect = sqlite.dialect()
    process = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert bulk._sqlite_utc(moment) == process(moment)
    with pytest.raises(ValueError, match="naive"):
        bulk._sqlite_utc(datetime(2026, 1, 1))


def test_batches_cut_into_statements_store_every_row(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny parameter limit: every table's rows go in many statements, none lost."""
    monkeypatch.setattr(bulk, "_variable_limit", lambda _conn: 40)
    matters = [matter(str(n), f"食品经营许可{n}", keywords=[f"关键词{n}"]) for n in range(1, 30)]
    counts = store(engine, matters)
    assert counts.inserted == 29
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(service_matters)).scalar() == 29
        assert conn.execute(select(func.count()).select_from(service_matter_search)).scalar() == 29
        grams = {tuple(r) for r in conn.execute(select(service_matter_grams))}
        stored = conn.execute(
            select(service_matters.c.data, service_matters.c.content_hash).where(
                service_matters.c.implementation_code == matters[0].implementation_code
            )
        ).one()
        hits = search_matters(conn, MatterQuery(text="关键词7"))
    expected = {
        (gram, m.implementation_code)
        for m in matters
        for gram in bigrams(normalise(m.name)) | bigrams(normalise(m.keywords[0]))
    }
    assert grams == expected
    data = matters[0].model_dump(mode="json")
    assert stored.data == data and stored.content_hash == content_hash(data)
    assert [h["data"]["name"] for h in hits.items] == ["食品经营许可7"]


def test_a_changed_matter_is_updated_with_its_new_version(engine: Engine) -> None:
    first = matter("9", "食品经营许可")
    store(engine, [first])
    changed_at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    second = matter("9", "食品经营许可（变更）", changed_at=changed_at, keywords=["餐饮"])
    counts = store(engine, [second, second])  # twice in one batch: the second is unchanged
    assert (counts.inserted, counts.changed, counts.unchanged) == (0, 1, 1)
    with engine.connect() as conn:
        row = conn.execute(
            select(service_matters).where(
                service_matters.c.implementation_code == first.implementation_code
            )
        ).one()
        versions = matter_versions(conn, first.implementation_code)
        hits = search_matters(conn, MatterQuery(text="餐饮"))
        old = search_matters(conn, MatterQuery(text="食品经营许可", statuses=()))
    assert row.version_no == 2 and row.name == "食品经营许可（变更）"
    assert row.changed_at == changed_at
    assert [v["version_no"] for v in versions] == [1, 2]
    assert versions[0]["valid_to"] == changed_at and versions[1]["valid_to"] is None
    assert [h["data"]["name"] for h in hits.items] == ["食品经营许可（变更）"]
    assert old.total == 1


def test_insert_spread_orders_rows_and_handles_empty_lists(engine: Engine) -> None:
    rows: list[tuple[Any, str]] = [
        ("B-CODE", to_json(["许可", "食品"]).decode()),
        ("A-CODE", "[]"),
        ("C-CODE", to_json(["食品"]).decode()),
    ]
    with transaction(engine) as conn:
        bulk.insert_spread(conn, service_matter_grams, "gram", "implementation_code", rows)
    with engine.connect() as conn:
        found = sorted(tuple(r) for r in conn.execute(select(service_matter_grams)))
    assert found == [("许可", "B-CODE"), ("食品", "B-CODE"), ("食品", "C-CODE")]


def test_rows_of_the_wrong_width_are_refused(engine: Engine) -> None:
    with transaction(engine) as conn, pytest.raises(ValueError, match="2 values"):
        bulk.insert_rows(conn, service_matter_grams, ("gram", "implementation_code"), [("食品",)])


def test_select_in_finds_the_stored_keys_in_as_many_statements_as_needed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup of stored matters through the driver: every stored key found (none of
    the others), however many statements the values take; no values, no statement."""
    matters = [matter(str(n), f"食品经营许可{n}") for n in range(1, 12)]
    store(engine, matters)
    monkeypatch.setattr(bulk, "_variable_limit", lambda _conn: 4)
    codes = [m.implementation_code for m in matters[::2]] + ["NOT-STORED-1", "NOT-STORED-2"]
    names = ("implementation_code", "content_hash", "version_no")
    with engine.connect() as conn:
        found = bulk.select_in(conn, service_matters, names, "implementation_code", codes)
        nothing = bulk.select_in(conn, service_matters, names, "implementation_code", [])
    assert sorted(found) == sorted(
        (m.implementation_code, encode_matter(m)[1], 1) for m in matters[::2]
    )
    assert nothing == []


def test_a_change_time_written_twice_in_one_batch_is_the_same_text(engine: Engine) -> None:
    """The current row and the version share one conversion of the change time (and of
    `now`), on every database the same as the column type writes it."""
    moment = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    store(engine, [matter("1", "食品经营许可", changed_at=moment), matter("2", "药品零售许可")])
    with engine.connect() as conn:
        current = dict(
            conn.execute(
                select(service_matters.c.implementation_code, service_matters.c.changed_at)
            ).all()
        )
        versions = matter_versions(conn, matter("1", "x").implementation_code)
    assert current[matter("1", "x").implementation_code] == moment
    assert versions[0]["valid_from"] == moment


def test_driver_errors_come_as_sqlalchemys_without_the_values(engine: Engine) -> None:
    """Reads and writes through the driver fail as SQLAlchemy's own statements do, without
    SQLAlchemy's listing of the values bound (they may be personal data)."""
    with transaction(engine) as conn, pytest.raises(DBAPIError) as failed:
        bulk.select_in(conn, service_matters, ("no_such_column",), "implementation_code", ["秘密"])
    assert "秘密" not in str(failed.value)
    with pytest.raises(IntegrityError) as refused, transaction(engine) as conn:
        bulk.insert_rows(conn, service_matters, ("implementation_code",), [("秘密",)])
    assert "[parameters" not in str(refused.value)
