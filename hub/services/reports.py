"""The daily KPI report (绩效日报): what assessment staff open each morning.

For a day, one HTML page and one Excel workbook per period — the day itself, and the
month, quarter and year to date. The page has rankings (units by measure, as bar charts)
and trends (the district's shares over the period's days or months, as a line chart),
drawn as inline SVG: no script, no network, it opens from a file share. The workbook has
a summary sheet and one sheet per measure, ranked, with numerator and denominator.

The Airflow DAG calls `daily_report(settings, engine, day)`; it returns the files written.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine

from hub.config import Settings
from hub.model.base import LOCAL_ZONE, utcnow
from hub.services.kpis import (
    MEASURES,
    SPECS,
    KpiInputs,
    KpiReport,
    Measure,
    Period,
    UnitKpis,
    compute_kpis,
    day_period,
    kpi_inputs,
    parse_period,
    ranking,
)

#: Measures drawn as ranking charts on the page (every measure has its sheet and table).
CHARTED = (
    "resolved_on_time", "signed_on_time", "answered_30min", "satisfaction", "overdue_days",
    "returns", "matter_completeness", "one_visit_rate", "promise_compliance",
)  # fmt: skip
#: District shares drawn as trend lines.
TRENDED = ("resolved_on_time", "signed_on_time", "answered_30min", "satisfaction")
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#bf8700", "#8250df", "#0a7ea4")
TREND_DAYS = 14


def report_periods(day: date) -> list[Period]:
    """The day, and its month, quarter and year to date."""
    quarter = (day.month - 1) // 3 + 1
    return [
        day_period(day),
        parse_period(f"{day.year}-{day.month:02d}"),
        parse_period(f"{day.year}-Q{quarter}"),
        parse_period(str(day.year)),
    ]


def trend_parts(period: Period, day: date) -> list[Period]:
    """What the trend shows: the last 14 days for a day, else the period's parts so far."""
    if period.kind == "day":
        return [day_period(day - timedelta(n)) for n in range(TREND_DAYS - 1, -1, -1)]
    return [p for p in period.parts() if p.start <= day]


def daily_report(settings: Settings, engine: Engine, day: date) -> list[Path]:
    """Write the day's pages and workbooks under <home>/reports/; returns their paths."""
    inputs = kpi_inputs(settings)
    now = utcnow()
    written: list[Path] = []
    with engine.connect() as conn:
        for period in report_periods(day):
            report = compute_kpis(conn, period, inputs, now=now)
            trend = [
                (part, compute_kpis(conn, part, inputs, now=now, with_matters=False))
                for part in trend_parts(period, day)
            ]
            folder = settings.home / "reports" / period.kind
            folder.mkdir(parents=True, exist_ok=True)
            page = folder / f"kpi-{period.key}.html"
            page.write_text(render_html(report, trend, inputs, day), encoding="utf-8")
            book = folder / f"kpi-{period.key}.xlsx"
            write_workbook(report, book)
            written += [page, book]
    return written


# --- numbers as text ----------------------------------------------------------------------


def shown(measure: Measure) -> str:
    if measure.value is None:
        return "—"
    if measure.spec.kind == "rate":
        return f"{measure.value * 100:.1f}%"
    return f"{measure.value:,}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# --- SVG charts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str


def bar_chart(title: str, bars: Sequence[Bar], *, width: int = 560) -> str:
    """Horizontal bars, best first, scaled to the largest value."""
    row, left, top = 22, 170, 28
    height = top + row * max(1, len(bars)) + 10
    top_value = max((b.value for b in bars), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="16" class="title">{_e(title)}</text>',
    ]
    if not bars:
        parts.append(f'<text x="0" y="{top + 14}" class="empty">本期无数据 (no data)</text>')
    for index, bar in enumerate(bars):
        y = top + index * row
        length = max(1.0, (width - left - 70) * bar.value / top_value)
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_e(bar.label)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="15" fill="{COLOURS[0]}">'
            f"<title>{_e(bar.label)}: {_e(bar.text)}</title></rect>"
            f'<text x="{left + length + 4:.1f}" y="{y + 14}">{_e(bar.text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str, labels: Sequence[str], series: dict[str, list[float | None]], *, width: int = 560
) -> str:
    """Shares (0–100%) over the period's parts, one line per measure, gaps where no data."""
    height, left, right, top, bottom = 240, 44, 12, 28, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(labels) - 1)

    def xy(index: int, value: float) -> tuple[float, float]:
        return left + index * step, top + plot_h * (1 - value)

    parts = [
        f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="16" class="title">{_e(title)}</text>',
    ]
    for tick in (0.0, 0.5, 1.0):
        _, y = xy(0, tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick * 100:.0f}%</text>'
        )
    every = max(1, len(labels) // 8)
    for index, label in enumerate(labels):
        if index % every == 0 or index == len(labels) - 1:
            x, _ = xy(index, 0)
            parts.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_e(label)}</text>'
            )
    for number, (name, values) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        points = [xy(i, v) for i, v in enumerate(values) if v is not None]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
            parts.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points
            )
        legend_y = height - 22 + 12 * (number // 2)
        legend_x = left + (number % 2) * (plot_w // 2)
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y - 8}" width="10" height="3" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="{legend_y}" class="legend">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --- the page -----------------------------------------------------------------------------

STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child, td.name { text-align: left; }
thead th { background: #f6f8fa; } tr.district td { font-weight: bold; background: #fff8c5; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
svg.chart text { font-size: 11px; fill: #1f2328; } svg.chart text.title { font-size: 13px; font-weight: bold; }
svg.chart .grid { stroke: #d0d7de; stroke-width: 1; } svg.chart polyline { stroke-width: 2; }
.note { color: #57606a; font-size: 12px; }
"""  # noqa: E501


def _rank_chart(report: KpiReport, key: str) -> str:
    spec = SPECS[key]
    bars = [
        Bar(f"{rank}. {unit.unit_name}", float(measure.value or 0), shown(measure))
        for rank, unit, measure in ranking(report, key)[:15]
    ]
    order = (
        "高者为优 (higher is better)" if spec.better == "higher" else "低者为优 (lower is better)"
    )
    return bar_chart(f"{spec.label} — {order}", bars)


def _trend_chart(trend: list[tuple[Period, KpiReport]]) -> str:
    labels = [
        p.start.strftime("%m-%d") if p.kind == "day" else f"{p.start.month}月" for p, _ in trend
    ]
    series: dict[str, list[float | None]] = {}
    for key in TRENDED:
        values: list[float | None] = []
        for _, report in trend:
            value = report.district.measures[key].value
            values.append(float(value) if value is not None else None)
        series[SPECS[key].label] = values
    return line_chart("全区趋势 (district trend)", labels, series)


def _table(report: KpiReport) -> str:
    head = "".join(f"<th>{_e(m.label)}</th>" for m in MEASURES)
    rows = []
    for unit in [*report.units, report.district]:
        css = ' class="district"' if unit is report.district else ""
        cells = "".join(f"<td>{_e(shown(unit.measures[m.key]))}</td>" for m in MEASURES)
        rows.append(
            f'<tr{css}><td class="name">{_e(unit.unit_name)}</td>'
            f"<td>{_e(unit.unit_code)}</td>{cells}</tr>"
        )
    return (
        f"<table><thead><tr><th>单位 (unit)</th><th>代码 (code)</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render_html(
    report: KpiReport, trend: list[tuple[Period, KpiReport]], inputs: KpiInputs, day: date
) -> str:
    period = report.period
    as_of = report.as_of.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M")
    charts = "".join(f"<div>{_rank_chart(report, key)}</div>" for key in CHARTED)
    summary = "".join(
        f"<tr><td>{_e(m.label)}</td><td>{_e(shown(report.district.measures[m.key]))}</td></tr>"
        for m in MEASURES
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>绩效指标 {_e(period.label)} (KPI report {_e(period.key)})</title>
<style>{STYLE}</style></head>
<body>
<h1>经开区各单位绩效指标 — {_e(period.label)}</h1>
<p class="note">KPI report for {_e(period.key)} · 数据截至 (as of) {_e(as_of)} ·
报告日 (report day) {_e(day.isoformat())} · 事项未更新期限 (stale after)
{inputs.stale_days} 天 (days)</p>
<h2>全区汇总 (district summary)</h2>
<table id="summary"><thead><tr><th>指标 (measure)</th><th>全区 (district)</th></tr></thead>
<tbody>{summary}</tbody></table>
<h2>趋势 (trends)</h2>
<div class="charts" id="trends">{_trend_chart(trend)}</div>
<h2>排名 (rankings)</h2>
<div class="charts" id="rankings">{charts}</div>
<h2>各单位明细 (all units)</h2>
{_table(report)}
<p class="note">指标定义见 docs/matters.md (definitions in docs/matters.md)。</p>
</body></html>
"""


# --- the workbook -------------------------------------------------------------------------

_HEADER = Font(bold=True)
_FILL = PatternFill("solid", fgColor="F6F8FA")
_DISTRICT = PatternFill("solid", fgColor="FFF8C5")


def sheet_title(label: str) -> str:
    """A measure's sheet: the Chinese part of its label (Excel allows 31 characters)."""
    return label.split(" (")[0][:31]


def _fit(sheet: object, widths: Sequence[int]) -> None:
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width  # type: ignore[attr-defined]


def write_workbook(report: KpiReport, path: Path) -> None:
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "汇总"
    summary.append([f"绩效指标 {report.period.label} (KPI {report.period.key})"])
    summary.append([f"数据截至 (as of) {report.as_of.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}"])
    summary.append(["单位代码 (code)", "单位 (unit)", *[m.label for m in MEASURES]])
    for cell in summary[3]:
        cell.font, cell.fill = _HEADER, _FILL
    for unit in [*report.units, report.district]:
        summary.append(
            [unit.unit_code, unit.unit_name, *[unit.measures[m.key].value for m in MEASURES]]
        )
        if unit is report.district:
            for cell in summary[summary.max_row]:
                cell.fill = _DISTRICT
    for column, spec in enumerate(MEASURES, start=3):
        if spec.kind == "rate":
            for (cell,) in summary.iter_rows(min_row=4, min_col=column, max_col=column):
                cell.number_format = "0.0%"
    _fit(summary, [14, 28, *[16] * len(MEASURES)])
    summary.freeze_panes = "C4"
    for spec in MEASURES:
        sheet = book.create_sheet(sheet_title(spec.label))
        sheet.append([spec.label, f"{report.period.label} ({report.period.key})"])
        header = ["排名 (rank)", "单位代码 (code)", "单位 (unit)", "值 (value)"]
        if spec.kind == "rate":
            header += ["分子 (numerator)", "分母 (denominator)"]
        sheet.append(header)
        for cell in sheet[2]:
            cell.font, cell.fill = _HEADER, _FILL
        ranked = ranking(report, spec.key)
        listed = {unit.unit_code for _, unit, _ in ranked}
        rows: list[tuple[int | None, UnitKpis, Measure]] = list(ranked)
        rows += [(None, u, u.measures[spec.key]) for u in report.units if u.unit_code not in listed]
        rows.append((None, report.district, report.district.measures[spec.key]))
        for rank, unit, measure in rows:
            line: list[object] = [rank, unit.unit_code, unit.unit_name, measure.value]
            if spec.kind == "rate":
                line += [measure.numerator, measure.denominator]
            sheet.append(line)
            if spec.kind == "rate":
                sheet.cell(sheet.max_row, 4).number_format = "0.0%"
            if unit is report.district:
                for cell in sheet[sheet.max_row]:
                    cell.fill = _DISTRICT
        for cell in sheet["A"]:
            cell.alignment = Alignment(horizontal="center")
        _fit(sheet, [10, 14, 28, 12, 16, 16])
        sheet.freeze_panes = "A3"
    book.save(path)


def report_day(now: datetime | None = None) -> date:
    """The local date a morning run reports on: yesterday."""
    moment = (now or utcnow()).astimezone(LOCAL_ZONE)
    return moment.date() - timedelta(days=1)
