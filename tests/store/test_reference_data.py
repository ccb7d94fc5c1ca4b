"""Reference data (policies/): idempotent loading, config errors with file:line: field, sanity."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, event, select

from hub.config import REPO_ROOT
from hub.model.codes import OrgTier
from hub.reference import ReferenceData, load_reference
from hub.store import schema
from hub.store.reference import SyncCounts, load_reference_data
from hub.yamlconf import ConfigError

POLICIES = REPO_ROOT / "policies"
TABLES = {
    "org_units": (schema.org_units, "code"),
    "portal_sections": (schema.portal_sections, "code"),
    "categories": (schema.categories, "code"),
    "hotlines": (schema.hotlines, "number"),
}


@pytest.fixture
def bare_engine(engine: Engine) -> Engine:
    """A migrated database (SQLite or PostgreSQL) whose reference tables are empty."""
    with engine.begin() as conn:
        for table, _key in TABLES.values():
            conn.execute(table.delete())
    return engine


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A private copy of policies/ that a test may break."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            name: [dict(r) for r in conn.execute(select(table).order_by(table.c[key])).mappings()]
            for name, (table, key) in TABLES.items()
        }


def load(engine: Engine, data: ReferenceData) -> dict[str, SyncCounts]:
    with engine.begin() as conn:
        return load_reference_data(conn, data)


@pytest.fixture
def writes(engine: Engine) -> Iterator[list[str]]:
    """Every INSERT/UPDATE/DELETE statement the engine sends while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def yaml_items(name: str, key: str) -> list[dict[str, Any]]:
    return yaml.safe_load((POLICIES / name).read_text(encoding="utf-8"))[key]


# --- loading ------------------------------------------------------------------------------


def test_first_load_inserts_everything(bare_engine: Engine) -> None:
    expected = {
        "org_units": [u["code"] for u in yaml_items("org_units.yaml", "units")],
        "portal_sections": [s["code"] for s in yaml_items("categories.yaml", "sections")],
        "categories": [c["code"] for c in yaml_items("categories.yaml", "categories")],
        "hotlines": [h["number"] for h in yaml_items("hotlines.yaml", "merged")],
    }
    assert dump(bare_engine) == {name: [] for name in TABLES}
    counts = load(bare_engine, load_reference(POLICIES))
    for name, codes in expected.items():
        assert counts[name] == SyncCounts(inserted=len(codes), updated=0, unchanged=0), name
    rows = dump(bare_engine)
    for name, codes in expected.items():
        key = TABLES[name][1]
        assert sorted(r[key] for r in rows[name]) == sorted(codes), name
    units = {r["code"]: r for r in rows["org_units"]}
    assert units["JKQ-HBJ"]["name"] == "生态环境分局"
    assert units["JKQ-HBJ"]["tier"] == "department"
    assert units["JKQ-HBJ"]["parent"] == "JKQ"
    noise = next(r for r in rows["categories"] if r["code"] == "ENV-NOISE")
    assert noise["lead_unit"] == "JKQ-HBJ"
    assert "噪音" in noise["keywords"]
    assert [a["code"] for a in noise["attributes"]][:2] == ["noise_period", "noise_source"]


def test_second_load_changes_nothing(bare_engine: Engine, writes: list[str]) -> None:
    data = load_reference(POLICIES)
    load(bare_engine, data)
    before = dump(bare_engine)
    writes.clear()
    counts = load(bare_engine, load_reference(POLICIES))
    for name, c in counts.items():
        assert (c.inserted, c.updated) == (0, 0), name
        assert c.unchanged == len(before[name]) > 0, name
    assert writes == []  # not even a no-op UPDATE reached the database
    assert dump(bare_engine) == before


def test_editing_one_category_updates_one_row(
    bare_engine: Engine, policies: Path, writes: list[str]
) -> None:
    load(bare_engine, load_reference(policies))
    before = dump(bare_engine)
    path = policies / "categories.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("    name: 噪声污染\n") == 1
    path.write_text(text.replace("    name: 噪声污染\n", "    name: 噪声扰民\n"), encoding="utf-8")
    writes.clear()
    counts = load(bare_engine, load_reference(policies))
    assert counts["categories"] == SyncCounts(inserted=0, updated=1, unchanged=29)
    for name in ("org_units", "portal_sections", "hotlines"):
        assert (counts[name].inserted, counts[name].updated) == (0, 0), name
    assert len(writes) == 1 and writes[0].lstrip().upper().startswith("UPDATE")
    after = dump(bare_engine)
    changed = [
        (old, new)
        for old, new in zip(before["categories"], after["categories"], strict=True)
        if old != new
    ]
    assert len(changed) == 1
    old, new = changed[0]
    assert old["code"] == new["code"] == "ENV-NOISE"
    assert (old["name"], new["name"]) == ("噪声污染", "噪声扰民")
    assert {k: v for k, v in old.items() if k != "name"} == {
        k: v for k, v in new.items() if k != "name"
    }
    for name in ("org_units", "portal_sections", "hotlines"):
        assert after[name] == before[name]


def test_new_unit_is_inserted_and_nothing_else_moves(bare_engine: Engine, policies: Path) -> None:
    load(bare_engine, load_reference(policies))
    path = policies / "org_units.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.rstrip("\n")
        + "\n\n  - code: JKQ-TEST\n    name: 测试单位\n    tier: department\n    parent: JKQ\n",
        encoding="utf-8",
    )
    counts = load(bare_engine, load_reference(policies))
    assert counts["org_units"].inserted == 1
    assert counts["org_units"].updated == 0
    with bare_engine.connect() as conn:
        row = conn.execute(
            select(schema.org_units).where(schema.org_units.c.code == "JKQ-TEST")
        ).one()
    assert row.name == "测试单位" and row.region_codes == [] and row.duties == []


# --- config errors name file, line and field -------------------------------------------------


def line_of_text(text: str, needle: str, start: int = 0) -> int:
    """1-based line of the first `needle` at or after offset `start` (the test's own search)."""
    index = text.index(needle, start)
    return text.count("\n", 0, index) + 1


def rewrite(path: Path, old: str, new: str, *, after: str | None = None) -> int:
    """Replace the first `old` (after the text `after`, if given); return the line it is on."""
    text = path.read_text(encoding="utf-8")
    start = text.index(after) if after is not None else 0
    index = text.index(old, start)
    path.write_text(text[:index] + new + text[index + len(old) :], encoding="utf-8")
    return text.count("\n", 0, index) + 1


def unit_index(code: str) -> int:
    return [u["code"] for u in yaml_items("org_units.yaml", "units")].index(code)


def category_index(code: str) -> int:
    return [c["code"] for c in yaml_items("categories.yaml", "categories")].index(code)


def config_error(policies: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_reference(policies)
    return caught.value


def assert_points_at(error: ConfigError, path: Path, line: int | None, field: str) -> None:
    assert Path(error.path) == path
    assert error.line == line
    assert error.field == field
    where = f"{path}:{line}" if line else str(path)
    assert str(error).startswith(f"{where}: {field}: " if field else f"{where}: ")


def test_unknown_tier_names_file_line_and_field(policies: Path) -> None:
    path = policies / "org_units.yaml"
    index = unit_index("JKQ-JXKH")
    assert index == 3
    line = rewrite(path, "tier: department", "tier: ministry", after="- code: JKQ-JXKH")
    text = path.read_text(encoding="utf-8")
    assert line == line_of_text(text, "tier: ministry")
    error = config_error(policies)
    assert_points_at(error, path, line, "units[3].tier")
    assert "district" in error.message  # says what is allowed


def test_unknown_lead_unit_names_file_line_and_field(policies: Path) -> None:
    path = policies / "categories.yaml"
    index = category_index("URB-GARBAGE")
    line = rewrite(
        path, "lead_unit: ", "lead_unit: JKQ-NOPE\n    # was: ", after="- code: URB-GARBAGE"
    )
    assert line == line_of_text(path.read_text(encoding="utf-8"), "lead_unit: JKQ-NOPE")
    error = config_error(policies)
    assert_points_at(error, path, line, f"categories[{index}].lead_unit")
    assert "JKQ-NOPE" in error.message


def test_unknown_co_unit_names_list_position(policies: Path) -> None:
    path = policies / "categories.yaml"
    index = category_index("ENV-NOISE")
    line = rewrite(
        path,
        "co_units: []",
        "co_units:\n      - JKQ-CGJ\n      - JKQ-GHOST",
        after="- code: ENV-NOISE",
    )
    line += 2  # the second list item, two lines below `co_units:`
    assert line == line_of_text(path.read_text(encoding="utf-8"), "- JKQ-GHOST")
    error = config_error(policies)
    assert_points_at(error, path, line, f"categories[{index}].co_units[1]")


def test_unknown_hotline_unit_names_file_line_and_field(policies: Path) -> None:
    path = policies / "hotlines.yaml"
    numbers = [h["number"] for h in yaml_items("hotlines.yaml", "merged")]
    line = rewrite(path, "default_unit: JKQ-HBJ", "default_unit: JKQ-XXX", after='"12369"')
    error = config_error(policies)
    assert_points_at(error, path, line, f"merged[{numbers.index('12369')}].default_unit")


def test_duplicate_unit_code_names_file_and_line(policies: Path) -> None:
    path = policies / "org_units.yaml"
    index = unit_index("JKQ-SPJ")
    line = rewrite(path, "- code: JKQ-SPJ", "- code: JKQ-DZB")
    error = config_error(policies)
    assert Path(error.path) == path
    assert error.line == line
    assert error.field in (f"units[{index}]", f"units[{index}].code")
    assert "JKQ-DZB" in error.message
    assert str(error).startswith(f"{path}:{line}: units[{index}]")


def test_duplicate_unit_code_names_the_code_field(policies: Path) -> None:
    path = policies / "org_units.yaml"
    index = unit_index("JKQ-SPJ")
    rewrite(path, "- code: JKQ-SPJ", "- code: JKQ-DZB")
    assert config_error(policies).field == f"units[{index}].code"


def test_misspelt_field_names_it(policies: Path) -> None:
    path = policies / "org_units.yaml"
    index = unit_index("JKQ-HBJ")
    line = rewrite(path, "short_name: 环保局", "shortname: 环保局", after="- code: JKQ-HBJ")
    error = config_error(policies)
    assert_points_at(error, path, line, f"units[{index}].shortname")


def test_bad_unit_code_pattern(policies: Path) -> None:
    path = policies / "org_units.yaml"
    index = unit_index("JKQ-CGJ")
    line = rewrite(path, "- code: JKQ-CGJ", "- code: jkq-cgj")
    error = config_error(policies)
    assert_points_at(error, path, line, f"units[{index}].code")


def test_yaml_syntax_error_names_line(policies: Path) -> None:
    path = policies / "org_units.yaml"
    line = rewrite(path, "    name: 财政局\n", "    name: 财政局: 多了冒号\n")
    assert line == line_of_text(path.read_text(encoding="utf-8"), "财政局: 多了冒号")
    error = config_error(policies)
    assert_points_at(error, path, line, "")
    assert "YAML" in error.message


def test_yaml_syntax_error_in_categories(policies: Path) -> None:
    path = policies / "categories.yaml"
    line = rewrite(path, "keywords: [噪音,", "keywords: [噪音 {,", after="- code: ENV-NOISE")
    error = config_error(policies)
    assert Path(error.path) == path
    assert error.line == line
    assert "YAML" in error.message


def write_gbk_line(path: Path) -> int:
    """Re-encode one line of the file as GBK (a common mistake on Chinese Windows)."""
    raw = path.read_bytes()
    old = "政务服务便民热线".encode()
    index = raw.index(old)
    path.write_bytes(raw[:index] + "政务服务便民热线".encode("gbk") + raw[index + len(old) :])
    return raw.count(b"\n", 0, index) + 1


def test_non_utf8_file_names_the_file(policies: Path) -> None:
    path = policies / "hotlines.yaml"
    write_gbk_line(path)
    error = config_error(policies)
    assert Path(error.path) == path
    assert "UTF-8" in error.message
    assert str(error).startswith(str(path))


def test_non_utf8_file_names_the_line(policies: Path) -> None:
    path = policies / "hotlines.yaml"
    line = write_gbk_line(path)
    assert config_error(policies).line == line


def test_missing_required_field_points_at_the_item(policies: Path) -> None:
    path = policies / "categories.yaml"
    index = category_index("TRAFFIC")
    line = line_of_text(path.read_text(encoding="utf-8"), "- code: TRAFFIC")
    rewrite(path, "    section: ", "    old_section: ", after="- code: TRAFFIC")
    error = config_error(policies)
    # Pydantic reports the first problem; either way it is inside categories[index].
    assert Path(error.path) == path
    assert error.field.startswith(f"categories[{index}].")
    assert error.line is not None and line <= error.line <= line + 3


def test_missing_file_is_a_config_error(policies: Path) -> None:
    (policies / "hotlines.yaml").unlink()
    error = config_error(policies)
    assert Path(error.path) == policies / "hotlines.yaml"


# --- the sample data makes sense ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> ReferenceData:
    return load_reference(POLICIES)


def test_twelve_portal_sections(sample: ReferenceData) -> None:
    names = [s.name for s in sorted(sample.sections, key=lambda s: s.order)]
    assert len(names) == 12 == len(set(names))
    assert names[:6] == ["行政审批", "政务服务", "便民服务", "投诉举报", "建言献策", "经开动态"]
    assert sorted(s.order for s in sample.sections) == list(range(1, 13))


def test_every_tier_is_present(sample: ReferenceData) -> None:
    assert {u.tier for u in sample.units} == set(OrgTier)
    district = [u for u in sample.units if u.tier == OrgTier.DISTRICT]
    assert [u.code for u in district] == ["JKQ"]
    units = {u.code: u for u in sample.units}
    for unit in sample.units:
        if unit.tier == OrgTier.VILLAGE_COMMUNITY:
            parent = units[unit.parent or ""]
            assert parent.tier == OrgTier.TOWN_STREET
            for code in unit.region_codes:
                assert any(code.startswith(p) for p in parent.region_codes), unit.code


@pytest.mark.parametrize(
    "name",
    [
        # DOMAIN.md §1: departments listing matters on the Hebei network
        "审批局", "教育局", "住建局", "卫计局", "人社局", "财政局", "民政局", "民宗局", "环保局",
        # and the units the rules name
        "党政办", "编办", "绩效考核中心", "响应中心",
    ],
)  # fmt: skip
def test_named_departments_exist(sample: ReferenceData, name: str) -> None:
    matches = [u for u in sample.units if name in (u.name, u.short_name)]
    assert len(matches) == 1, name
    assert matches[0].tier == OrgTier.DEPARTMENT
    assert matches[0].parent == "JKQ"


def test_response_centre_is_the_12345_default(sample: ReferenceData) -> None:
    centre = next(u for u in sample.units if u.short_name == "响应中心")
    hotline = next(h for h in sample.hotlines.merged if h.number == "12345")
    assert hotline.default_unit == centre.code


def test_26_merged_hotlines_without_110_and_120(sample: ReferenceData) -> None:
    merged = [h.number for h in sample.hotlines.merged]
    assert len(merged) == 26 == len(set(merged))
    assert "12345" in merged
    for number in ("110", "120"):
        assert number not in merged
        assert number in {h.number for h in sample.hotlines.not_merged}
        assert number in sample.hotlines.emergency_transfer
    # DOMAIN.md §2 lists the hotlines a district typically folds in.
    for number in ("12315", "12369", "12333", "12320", "12319", "12348", "12366", "12338",
                   "12351", "12355", "12336", "12358"):  # fmt: skip
        assert number in merged, number
    units = {u.code for u in sample.units}
    categories = {c.code for c in sample.categories}
    for hotline in sample.hotlines.merged:
        assert hotline.default_unit in units
        assert hotline.default_category in categories


def test_loaded_database_matches_sample(engine: Engine, sample: ReferenceData) -> None:
    rows = dump(engine)
    assert len(rows["portal_sections"]) == 12
    assert len(rows["hotlines"]) == 26
    assert {r["number"] for r in rows["hotlines"]}.isdisjoint({"110", "120"})
    assert {r["code"] for r in rows["org_units"]} == {u.code for u in sample.units}
    assert {r["tier"] for r in rows["org_units"]} == {t.value for t in OrgTier}
