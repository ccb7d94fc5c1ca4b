"""Matter catalogue: versions per change, nothing written for an unchanged re-sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from hub.model.service_matter import ServiceMatter
from hub.store.db import transaction
from hub.store.matters import get_matter, matter_in_force, matter_versions, upsert_matters
from hub.store.schema import service_matter_versions, service_matters

T0 = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)


def food_licence(**overrides: object) -> ServiceMatter:
    """Scenario 6: promises 10 working days against a legal 20, at most one visit."""
    data: dict[str, object] = {
        "basic_code": "000103005",
        "implementation_code": "11130199MB0000001X400011",
        "name": "食品经营许可",
        "matter_type": "01",
        "use_level": "4",
        "unit_code": "JKQ-SPJ",
        "unit_name": "经开区行政审批局",
        "legal_limit": {"value": 20},
        "promised_limit": {"value": 10},
        "visits_required": 1,
        "changed_at": T0,
    }
    data.update(overrides)
    return ServiceMatter.model_validate(data)


def other(n: int) -> ServiceMatter:
    return food_licence(implementation_code=f"11130199MB00000{n:02d}X40001", name=f"事项{n}")


def version_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(service_matter_versions)).scalar_one()


def test_first_sync_inserts_current_rows_and_version_one(engine: Engine) -> None:
    with transaction(engine) as conn:
        counts = upsert_matters(conn, [food_licence(), other(2)], source="hebei", now=T0)
    assert (counts.inserted, counts.changed, counts.unchanged) == (2, 0, 0)
    with engine.connect() as conn:
        assert get_matter(conn, "11130199MB0000001X400011") == food_licence()
        assert [v["version_no"] for v in matter_versions(conn, "11130199MB0000001X400011")] == [1]


def test_unchanged_resync_writes_nothing(engine: Engine) -> None:
    with transaction(engine) as conn:
        upsert_matters(conn, [food_licence(), other(2)], source="hebei", now=T0)
    with engine.connect() as conn:
        before = conn.execute(select(service_matters).order_by("implementation_code")).all()
    later = T0 + timedelta(days=1)
    with transaction(engine) as conn:
        # a new cd_time alone (the source touched the row) is not a new version either
        counts = upsert_matters(
            conn, [food_licence(changed_at=later), other(2)], source="hebei", now=later
        )
    assert (counts.inserted, counts.changed, counts.unchanged) == (0, 0, 2)
    with engine.connect() as conn:
        after = conn.execute(select(service_matters).order_by("implementation_code")).all()
    assert after == before
    assert version_count(engine) == 2


def test_change_makes_a_new_version_and_old_cases_keep_the_old_limit(engine: Engine) -> None:
    changed_at = T0 + timedelta(days=30)
    with transaction(engine) as conn:
        upsert_matters(conn, [food_licence()], source="hebei", now=T0)
    with transaction(engine) as conn:
        counts = upsert_matters(
            conn,
            [food_licence(promised_limit={"value": 7}, changed_at=changed_at)],
            source="hebei",
            now=changed_at + timedelta(minutes=5),
        )
    assert counts.changed == 1
    code = "11130199MB0000001X400011"
    with engine.connect() as conn:
        versions = matter_versions(conn, code)
        assert [(v["version_no"], v["valid_to"]) for v in versions] == [(1, changed_at), (2, None)]
        accepted_before = matter_in_force(conn, code, changed_at - timedelta(days=1))
        accepted_after = matter_in_force(conn, code, changed_at + timedelta(days=1))
        current = get_matter(conn, code)
    assert accepted_before is not None and accepted_before.promised_limit is not None
    assert accepted_before.promised_limit.value == 10
    assert accepted_after is not None and accepted_after.promised_limit is not None
    assert accepted_after.promised_limit.value == 7
    assert current is not None and current.promised_limit is not None
    assert current.promised_limit.value == 7


def test_deleted_matter_is_marked_never_erased(engine: Engine) -> None:
    with transaction(engine) as conn:
        upsert_matters(conn, [food_licence()], source="hebei", now=T0)
    gone = T0 + timedelta(days=2)
    with transaction(engine) as conn:
        upsert_matters(
            conn, [food_licence(status="deleted", changed_at=gone)], source="hebei", now=gone
        )
    with engine.connect() as conn:
        current = get_matter(conn, "11130199MB0000001X400011")
        versions = matter_versions(conn, "11130199MB0000001X400011")
    assert current is not None and current.status.value == "deleted"
    assert [v["status"] for v in versions] == ["active", "deleted"]


def test_two_changes_in_one_batch_make_two_versions(engine: Engine) -> None:
    with transaction(engine) as conn:
        counts = upsert_matters(
            conn,
            [
                food_licence(),
                food_licence(promised_limit={"value": 5}, changed_at=T0 + timedelta(hours=1)),
            ],
            source="hebei",
            now=T0,
        )
    assert (counts.inserted, counts.changed) == (1, 1)
    with engine.connect() as conn:
        versions = matter_versions(conn, "11130199MB0000001X400011")
        current = get_matter(conn, "11130199MB0000001X400011")
    assert [(v["version_no"], v["valid_to"]) for v in versions] == [
        (1, T0 + timedelta(hours=1)),
        (2, None),
    ]
    assert current is not None and current.promised_limit is not None
    assert current.promised_limit.value == 5
