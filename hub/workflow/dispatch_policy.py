"""policies/dispatch.yaml: the rules triage (分单) and 并单 read, validated at load.

The response centre edits this file by hand, so every mistake is a ConfigError that names
the file, the line and the field. Keywords are folded (NFKC, lower case) at load, the same
way triage folds the request text, so full-width input and ASCII case never decide a match.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from hub.model.codes import OrgTier
from hub.model.org_unit import UnitCode
from hub.model.validators import RegionCode
from hub.reference import ReferenceData
from hub.workflow.geo import Point, ring_area
from hub.yamlconf import ConfigError, field_path, line_of, load_model

DISPATCH_FILE = "dispatch.yaml"


def fold(text: str) -> str:
    """NFKC + lower case: ＡＢＣ１２３ and abc123 compare equal, Chinese is unchanged."""
    return unicodedata.normalize("NFKC", text).lower()


def _folded_keyword(value: str) -> str:
    folded = fold(value).strip()
    if not folded:
        raise ValueError("关键词不能为空 (keyword must not be empty)")
    return folded


Keyword = Annotated[
    str, StringConstraints(min_length=1, max_length=40), AfterValidator(_folded_keyword)
]
RuleCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$"),
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Latitude = Annotated[float, Field(ge=-90, le=90)]


class PolicyModel(BaseModel):
    """Frozen and strict: a typo in a key is an error, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class KeywordRule(PolicyModel):
    """Fires when any keyword occurs (after blanking ignore_phrases) and, if given, any of
    `requires` occurs too."""

    code: RuleCode
    name: Text
    keywords: list[Keyword] = Field(default_factory=list)
    requires: list[Keyword] = Field(default_factory=list)
    ignore_phrases: list[Keyword] = Field(default_factory=list)

    # Every order is checked against every rule: one search per list, not one per word.
    @cached_property
    def any_keyword(self) -> re.Pattern[str]:
        return any_of(self.keywords)

    @cached_property
    def any_required(self) -> re.Pattern[str]:
        return any_of(self.requires)


def any_of(words: list[str]) -> re.Pattern[str]:
    """A pattern that finds any of `words` (none: never matches)."""
    return re.compile("|".join(map(re.escape, words)) or "(?!)")


class EmergencyRule(KeywordRule):
    hotline: Annotated[str, StringConstraints(pattern=r"^\d{3}$")]
    notice: Text  # told to the caller while transferring


class OutOfScopeRule(KeywordRule):
    route: Text  # the right route, told to the requester


class Scoring(PolicyModel):
    title_weight: int = Field(default=2, ge=1, le=5)
    min_score: int = Field(default=2, ge=1, le=100)
    secondary_min_score: int = Field(default=4, ge=1, le=100)
    supporting_keywords: list[Keyword] = Field(default_factory=list)


class RegionSettings(PolicyModel):
    fallback_to_sample_lead: bool = False


class SplitSettings(PolicyModel):
    enabled: bool = True
    share_order: list[list[OrgTier]] = Field(default_factory=list)

    def group_of(self, tier: OrgTier) -> int:
        """Index of the tier's group; a tier not listed is a group of its own."""
        for index, group in enumerate(self.share_order):
            if tier in group:
                return index
        return len(self.share_order) + list(OrgTier).index(tier)


class SamePlace(PolicyModel):
    region_code: bool = True
    min_region_length: int = Field(default=12, ge=6, le=12)
    address: bool = True
    address_ignore_prefixes: list[Annotated[str, AfterValidator(_folded_keyword)]] = Field(
        default_factory=list
    )
    within_metres: float | None = Field(default=200.0, gt=0, le=5000)


class DuplicateSettings(PolicyModel):
    window_hours: float = Field(default=72.0, gt=0, le=24 * 90)
    threshold: float = Field(default=0.2, gt=0, le=1)
    same_place: SamePlace = Field(default_factory=SamePlace)


class Area(PolicyModel):
    """A village or community outline; coordinates inside it get its region code."""

    region_code: RegionCode
    name: Text
    ring: list[tuple[Longitude, Latitude]]

    @field_validator("ring")
    @classmethod
    def _proper_ring(cls, ring: list[Point]) -> list[Point]:
        points = list(ring)
        if len(points) > 1 and points[0] == points[-1]:
            points = points[:-1]  # closed ring: drop the repeated first point
        if len(set(points)) < 3:
            raise ValueError(
                "边界至少需要 3 个不同的顶点 [经度, 纬度] "
                "(a ring needs 3 distinct [lon, lat] points)"
            )
        if ring_area(points) == 0:
            raise ValueError("边界顶点共线，面积为零 (the ring has no area: points are collinear)")
        return points


class DispatchPolicy(PolicyModel):
    version: int = Field(default=1, ge=1, le=1)
    catch_all_categories: list[UnitCode] = Field(default_factory=list)
    response_centre: UnitCode | None = None
    use_hotline_default_unit: bool = True
    keyword_hints: dict[UnitCode, list[Keyword]] = Field(default_factory=dict)
    scoring: Scoring = Field(default_factory=Scoring)
    emergency: list[EmergencyRule] = Field(default_factory=list)
    out_of_scope: list[OutOfScopeRule] = Field(default_factory=list)
    region: RegionSettings = Field(default_factory=RegionSettings)
    split: SplitSettings = Field(default_factory=SplitSettings)
    duplicates: DuplicateSettings = Field(default_factory=DuplicateSettings)
    areas: list[Area] = Field(default_factory=list)

    @property
    def rules(self) -> list[EmergencyRule | OutOfScopeRule]:
        """Emergency rules, then out-of-scope ones: the order triage tries them in."""
        return [*self.emergency, *self.out_of_scope]

    # Most requests hold none of the rules' keywords: one search rules them all out.
    @cached_property
    def any_rule_keyword(self) -> re.Pattern[str]:
        return any_of([word for rule in self.rules for word in rule.keywords])


Loc = list[str | int]


class _Checks:
    """Cross-field and cross-file checks; each failure points at its line."""

    def __init__(self, path: Path, root: yaml.Node | None) -> None:
        self.path, self.root = path, root

    def fail(self, loc: Loc, message: str) -> None:
        raise ConfigError(self.path, line_of(self.root, loc), field_path(loc), message)

    def rules(self, policy: DispatchPolicy) -> None:
        seen: set[str] = set()
        groups: list[tuple[str, list[EmergencyRule] | list[OutOfScopeRule]]] = [
            ("emergency", policy.emergency),
            ("out_of_scope", policy.out_of_scope),
        ]
        for key, rules in groups:
            for i, rule in enumerate(rules):
                if rule.code in seen:
                    self.fail([key, i, "code"], f"规则编码重复 {rule.code!r} (duplicate rule code)")
                seen.add(rule.code)
                if not rule.keywords and key == "emergency":
                    self.fail([key, i, "keywords"], "紧急规则须有关键词 (needs keywords)")

    def split(self, policy: DispatchPolicy) -> None:
        seen: set[OrgTier] = set()
        for i, group in enumerate(policy.split.share_order):
            for j, tier in enumerate(group):
                if tier in seen:
                    self.fail(
                        ["split", "share_order", i, j],
                        f"层级 {tier.value} 重复出现 (a tier may sit in one group only)",
                    )
                seen.add(tier)

    def areas(self, policy: DispatchPolicy, served: set[str] | None) -> None:
        seen: set[str] = set()
        for i, area in enumerate(policy.areas):
            loc: Loc = ["areas", i, "region_code"]
            if area.region_code in seen:
                self.fail(loc, f"区划代码重复 {area.region_code!r} (duplicate area)")
            seen.add(area.region_code)
            if served is not None and area.region_code not in served:
                self.fail(
                    loc,
                    f"没有单位服务该区划 {area.region_code!r} (no org unit serves this region)",
                )

    def references(self, policy: DispatchPolicy, reference: ReferenceData) -> None:
        categories = {c.code for c in reference.categories}
        units = {u.code for u in reference.units}
        for code in policy.keyword_hints:
            if code not in categories:
                self.fail(["keyword_hints", code], f"未知的类别 {code!r} (unknown category)")
        for i, code in enumerate(policy.catch_all_categories):
            if code not in categories:
                self.fail(["catch_all_categories", i], f"未知的类别 {code!r} (unknown category)")
        if policy.response_centre is not None and policy.response_centre not in units:
            self.fail(
                ["response_centre"], f"未知的单位 {policy.response_centre!r} (unknown org unit)"
            )
        allowed = set(reference.hotlines.emergency_transfer)
        for i, rule in enumerate(policy.emergency):
            if allowed and rule.hotline not in allowed:
                self.fail(
                    ["emergency", i, "hotline"],
                    f"{rule.hotline} 不是 hotlines.yaml 中的紧急转接号码 "
                    f"(not an emergency_transfer number: {', '.join(sorted(allowed))})",
                )


def load_dispatch_policy(path: Path, reference: ReferenceData | None = None) -> DispatchPolicy:
    """Read and check dispatch.yaml; with `reference`, codes are checked against it too."""
    path = Path(path)
    policy, root = load_model(path, DispatchPolicy)
    checks = _Checks(path, root)
    checks.rules(policy)
    checks.split(policy)
    served = (
        {code for unit in reference.units for code in unit.region_codes}
        if reference is not None
        else None
    )
    checks.areas(policy, served)
    if reference is not None:
        checks.references(policy, reference)
    return policy
