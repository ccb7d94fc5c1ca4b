"""The daily KPI report: HTML pages that render (parsed back), workbooks that open with
openpyxl and hold the hand-counted figures of kpi_fixture.py."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from kpi_fixture import EXPECTED, load
from lxml import etree, html
from openpyxl import load_workbook
from sqlalchemy import Engine

from hub.config import Settings
from hub.services.kpis import MEASURES, SPECS
from hub.services.reports import daily_report, report_day, sheet_title

DAY = date(2026, 10, 31)  # a Saturday; its month (October) is over: figures as counted


@pytest.fixture
def files(engine: Engine, settings: Settings) -> dict[str, Path]:
    load(engine)
    written = daily_report(settings, engine, DAY)
    return {path.name: path for path in written}


def test_one_page_and_one_workbook_per_period(files: dict[str, Path], settings: Settings) -> None:
    assert sorted(files) == sorted(
        f"kpi-{key}.{ext}"
        for key in ("2026-10-31", "2026-10", "2026-Q4", "2026")
        for ext in ("html", "xlsx")
    )
    assert files["kpi-2026-10.html"].parent == settings.home / "reports" / "month"
    assert all(path.stat().st_size > 0 for path in files.values())


def test_the_month_page_renders_with_rankings_and_trends(files: dict[str, Path]) -> None:
    text = files["kpi-2026-10.html"].read_text("utf-8")
    assert "<script" not in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", ""
    )  # no script, nothing fetched
    page = html.fromstring(text)
    assert page.findtext(".//title") == "绩效指标 2026年10月 (KPI report 2026-10)"
    assert page.findtext(".//h1") == "经开区各单位绩效指标 — 2026年10月"
    summary = {
        row[0].text_content(): row[1].text_content()
        for row in page.xpath('//table[@id="summary"]/tbody/tr')
    }
    assert summary[SPECS["resolved_on_time"].label] == "40.0%"  # 2 of 5
    assert summary[SPECS["overdue_days"].label] == "5"
    assert summary[SPECS["one_visit_rate"].label] == "75.0%"
    charts = page.xpath('//div[@id="rankings"]//*[local-name()="svg"]')
    assert len(charts) == 9
    first = charts[0]
    assert first.get("aria-label").startswith("按时办结率")
    bars = [t.text_content() for t in first.xpath('.//*[local-name()="text"]')]
    assert "1. 政务服务便民热线响应中心" not in bars  # only units with a figure are ranked
    assert any(b.endswith("生态环境分局") for b in bars)
    trend = page.xpath('//div[@id="trends"]//*[local-name()="svg"]')
    assert len(trend) == 1
    assert len(trend[0].xpath('.//*[local-name()="polyline"]')) >= 1
    labels = [t.text_content() for t in trend[0].xpath('.//*[local-name()="text"]')]
    assert "10-01" in labels and "10-31" in labels  # the month's days
    for svg in [*charts, *trend]:  # each chart is well-formed XML on its own
        etree.fromstring(etree.tostring(svg))


def test_the_month_workbook_has_a_sheet_per_measure_with_the_figures(
    files: dict[str, Path],
) -> None:
    book = load_workbook(files["kpi-2026-10.xlsx"])
    assert book.sheetnames == ["汇总", *[sheet_title(m.label) for m in MEASURES]]
    for spec in MEASURES:
        sheet = book[sheet_title(spec.label)]
        rows = list(sheet.iter_rows(min_row=3, values_only=True))
        by_unit = {row[1]: row for row in rows}
        for unit, expected in EXPECTED[spec.key].items():
            row = by_unit[unit]
            if isinstance(expected, tuple):
                good, total = expected
                assert row[3] == pytest.approx(good / total, abs=1e-4), (spec.key, unit)
                assert (row[4], row[5]) == (good, total), (spec.key, unit)
            else:
                assert row[3] == expected, (spec.key, unit)
        assert rows[-1][2] == "全区 (district)"
    ranks = list(book["按时签收率"].iter_rows(min_row=3, max_row=5, values_only=True))
    assert [(r[0], r[1]) for r in ranks] == [(1, "JKQ-HBJ"), (2, "JKQ-CGJ"), (2, "JKQ-ZJJ")]
    summary = book["汇总"]
    assert summary["A3"].value == "单位代码 (code)"
    assert summary.cell(3, 3 + 1).value == SPECS["signed_on_time"].label


def test_the_day_and_year_pages_render_too(files: dict[str, Path]) -> None:
    day = html.fromstring(files["kpi-2026-10-31.html"].read_text("utf-8"))
    labels = [t.text_content() for t in day.xpath('//div[@id="trends"]//*[local-name()="text"]')]
    assert "10-18" in labels or "10-31" in labels  # the last 14 days
    year = html.fromstring(files["kpi-2026.html"].read_text("utf-8"))
    year_labels = [
        t.text_content() for t in year.xpath('//div[@id="trends"]//*[local-name()="text"]')
    ]
    assert "1月" in year_labels
    assert load_workbook(files["kpi-2026.xlsx"]).sheetnames[0] == "汇总"


def test_a_morning_run_reports_on_yesterday() -> None:
    from datetime import UTC, datetime

    assert report_day(datetime(2026, 11, 27, 0, 30, tzinfo=UTC)) == date(2026, 11, 26)
    assert report_day(datetime(2026, 11, 26, 17, 0, tzinfo=UTC)) == date(2026, 11, 26)
