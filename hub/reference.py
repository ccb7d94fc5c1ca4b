"""Reference data in policies/: org units, portal sections, categories, merged hotlines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field

from hub.model.base import Canonical
from hub.model.org_unit import Category, Hotline, OrgUnit, PortalSection
from hub.yamlconf import ConfigError, field_path, line_of, load_model


class OrgUnitsFile(Canonical):
    units: list[OrgUnit]


class CategoriesFile(Canonical):
    sections: list[PortalSection]
    categories: list[Category]


class NotMergedHotline(Canonical):
    number: str
    name: str
    transfer: bool = True


class HotlinesFile(Canonical):
    merged: list[Hotline]
    not_merged: list[NotMergedHotline] = Field(default_factory=list)
    emergency_transfer: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class ReferenceData:
    units: list[OrgUnit]
    sections: list[PortalSection]
    categories: list[Category]
    hotlines: HotlinesFile


def _check_refs(
    path: Path,
    root: yaml.Node | None,
    items: list[tuple[list[str | int], str | None]],
    known: set[str],
) -> None:
    for loc, code in items:
        if code is not None and code not in known:
            raise ConfigError(
                path,
                line_of(root, loc),
                field_path(loc),
                f"引用了不存在的编码 {code!r} (unknown code)",
            )


def _check_unique(
    path: Path, root: yaml.Node | None, name: str, field: str, codes: list[str]
) -> None:
    seen: set[str] = set()
    for index, code in enumerate(codes):
        if code in seen:
            loc: list[str | int] = [name, index, field]
            raise ConfigError(
                path, line_of(root, loc), field_path(loc), f"编码重复 {code!r} (duplicate code)"
            )
        seen.add(code)


def load_reference(policies: Path) -> ReferenceData:
    """Load and cross-check the three files; every error names file, line and field."""
    units_path = policies / "org_units.yaml"
    cats_path = policies / "categories.yaml"
    lines_path = policies / "hotlines.yaml"
    units_file, units_root = load_model(units_path, OrgUnitsFile)
    cats_file, cats_root = load_model(cats_path, CategoriesFile)
    lines_file, lines_root = load_model(lines_path, HotlinesFile)

    unit_codes = [u.code for u in units_file.units]
    _check_unique(units_path, units_root, "units", "code", unit_codes)
    _check_unique(cats_path, cats_root, "sections", "code", [s.code for s in cats_file.sections])
    _check_unique(
        cats_path, cats_root, "categories", "code", [c.code for c in cats_file.categories]
    )
    _check_unique(lines_path, lines_root, "merged", "number", [h.number for h in lines_file.merged])
    known_units = set(unit_codes)
    _check_refs(
        units_path,
        units_root,
        [(["units", i, "parent"], u.parent) for i, u in enumerate(units_file.units)],
        known_units,
    )
    section_codes = {s.code for s in cats_file.sections}
    category_refs: list[tuple[list[str | int], str | None]] = []
    unit_refs: list[tuple[list[str | int], str | None]] = []
    for i, cat in enumerate(cats_file.categories):
        category_refs.append((["categories", i, "section"], cat.section))
        unit_refs.append((["categories", i, "lead_unit"], cat.lead_unit))
        unit_refs += [(["categories", i, "co_units", j], c) for j, c in enumerate(cat.co_units)]
    _check_refs(cats_path, cats_root, category_refs, section_codes)
    _check_refs(cats_path, cats_root, unit_refs, known_units)
    category_codes = {c.code for c in cats_file.categories}
    _check_refs(
        lines_path,
        lines_root,
        [
            (["merged", i, "default_category"], h.default_category)
            for i, h in enumerate(lines_file.merged)
        ],
        category_codes,
    )
    _check_refs(
        lines_path,
        lines_root,
        [(["merged", i, "default_unit"], h.default_unit) for i, h in enumerate(lines_file.merged)],
        known_units,
    )
    return ReferenceData(units_file.units, cats_file.sections, cats_file.categories, lines_file)
