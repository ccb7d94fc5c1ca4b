"""Sinks: pulled records into the store; a re-pull writes nothing new."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import submission
from sqlalchemy import Engine, func, select

from hub.model.service_matter import ServiceMatter
from hub.model.work_order import WorkOrderSubmission
from hub.services.catalogue import read_catalogue
from hub.services.sinks import SINKS, SinkContext
from hub.store.db import transaction
from hub.store.schema import events, outbox, work_orders

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def hotline_order(external_id: str, **overrides: object) -> WorkOrderSubmission:
    body = submission(channel="hotline", source_system="hotline_centre", external_id=external_id)
    body.update(overrides)
    return WorkOrderSubmission.model_validate(body)


def test_orders_sink_inserts_once_and_rejects_unknown_categories(engine: Engine) -> None:
    context = SinkContext("hotline_centre", read_catalogue(engine), NOW)
    batch = [hotline_order("H-1"), hotline_order("H-2"), hotline_order("H-3", category_code="NOPE")]
    with transaction(engine) as conn:
        first = SINKS["work_order"](conn, batch, context)
    assert (first.inserted, first.unchanged) == (2, 0)
    assert first.rejected == [(2, "category_code", "未知的诉求类别 'NOPE' (unknown category)")]
    with transaction(engine) as conn:
        again = SINKS["work_order"](conn, batch[:2], context)
    assert (again.inserted, again.unchanged, again.rejected) == (0, 2, [])
    with engine.connect() as conn:
        assert [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (work_orders, events, outbox)
        ] == [2, 2, 2]
        channels = conn.execute(select(work_orders.c.channel, work_orders.c.source_system)).all()
    assert set(channels) == {("hotline", "hotline_centre")}


def test_matters_sink_counts_inserted_changed_unchanged(engine: Engine) -> None:
    context = SinkContext("hebei_network", read_catalogue(engine), NOW)
    matter = ServiceMatter.model_validate(
        {
            "basic_code": "000103005",
            "implementation_code": "11130199MB0000001X400011",
            "name": "食品经营许可",
            "matter_type": "01",
            "use_level": "4",
            "unit_name": "经开区行政审批局",
            "promised_limit": {"value": 10},
        }
    )
    changed = matter.model_copy(update={"name": "食品经营许可（新办）"})
    with transaction(engine) as conn:
        first = SINKS["service_matter"](conn, [matter], context)
        second = SINKS["service_matter"](conn, [matter], context)
        third = SINKS["service_matter"](conn, [changed], context)
    assert (first.inserted, second.unchanged, third.changed) == (1, 1, 1)
