"""Triage (分单): decide what happens to a new request, as a pure function.

Order of the rules, each from policies/dispatch.yaml and the dispatch catalogue:

1. emergency — transfer at once to 110/119/120/122 (first matching rule in file order);
2. out_of_scope — litigation, arbitration, review, petitions, disclosure, secrets,
   malicious calls: tell the requester the right route;
3. dispatch — one order with a lead (主办) and co-handlers (协办), or split — child orders
   when the matters sit in tier groups that cannot share an order;
4. manual — no category, or no unit can be found: the response centre triages by hand.

Keyword score (deterministic, documented in dispatch.yaml): the title and the content are
cut into clauses at punctuation and NFKC-folded. In a clause, a category scores the summed
length of the distinct keywords it matches; an occurrence inside a longer matched keyword
(of any category) does not count, and "supporting" keywords count only when the same
clause has another keyword of that category. Title clauses count `title_weight` times.
Each clause goes to its best category (ties: total, first position, code); a category
that wins a clause and reaches `min_score` is a detected matter; the best total is the
main matter. Another matter needs its own evidence: the keywords the main category does
not also list (supporting ones left out) must reach `secondary_min_score`, so two
alternative categories sharing 路灯/不亮 never become lead and co-handler of one lamp.
Other matters are co-handlers, unless their tier group differs (split).

A department duty is never pushed down: a department-tier category is only ever assigned
to a department or public-service unit, whatever the region code says.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from hub.model.codes import AssignmentRole, OrgTier
from hub.model.org_unit import Category, Hotline, OrgUnit
from hub.workflow.dispatch_policy import Area, DispatchPolicy, KeywordRule, fold
from hub.workflow.geo import in_ring

# --- inputs ---------------------------------------------------------------------------


class LocationLike(Protocol):
    @property
    def address(self) -> str | None: ...
    @property
    def region_code(self) -> str | None: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...


class OrderLike(Protocol):
    """What triage reads: a WorkOrder, a WorkOrderSubmission or anything shaped like them."""

    @property
    def category_code(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def location(self) -> LocationLike | None: ...


class CatalogueLike(Protocol):
    """hub.services.catalogue.Catalogue, without importing the store into a pure module."""

    @property
    def units(self) -> Mapping[str, OrgUnit]: ...
    @property
    def categories(self) -> Mapping[str, Category]: ...
    @property
    def hotlines(self) -> Mapping[str, Hotline]: ...


# --- outcomes -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedAssignment:
    """One unit's part of an order; `delivery_unit` is whose connector (or inbox) carries it."""

    unit_code: str
    role: AssignmentRole
    category_code: str
    reason: str
    delivery_unit: str


@dataclass(frozen=True)
class Matter:
    """A matter found in the text: its category, score, keywords and its part of the text."""

    category_code: str
    score: int
    keywords: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ChildOrder:
    category_code: str
    text: str
    assignments: tuple[PlannedAssignment, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Emergency:
    hotline: str
    rule: str
    reason: str
    notice: str
    also_hotlines: tuple[str, ...] = ()
    kind: Literal["emergency"] = field(default="emergency", init=False)


@dataclass(frozen=True)
class OutOfScope:
    rule: str
    route: str
    reason: str
    kind: Literal["out_of_scope"] = field(default="out_of_scope", init=False)


@dataclass(frozen=True)
class Dispatch:
    category_code: str
    assignments: tuple[PlannedAssignment, ...]
    reason: str
    matters: tuple[Matter, ...] = ()
    notes: tuple[str, ...] = ()
    kind: Literal["dispatch"] = field(default="dispatch", init=False)

    @property
    def lead(self) -> PlannedAssignment:
        return self.assignments[0]

    @property
    def co_handlers(self) -> tuple[PlannedAssignment, ...]:
        return self.assignments[1:]


@dataclass(frozen=True)
class Split:
    children: tuple[ChildOrder, ...]
    reason: str
    matters: tuple[Matter, ...] = ()
    notes: tuple[str, ...] = ()
    kind: Literal["split"] = field(default="split", init=False)


@dataclass(frozen=True)
class Manual:
    reason: str
    matters: tuple[Matter, ...] = ()
    notes: tuple[str, ...] = ()
    kind: Literal["manual"] = field(default="manual", init=False)


TriageOutcome = Emergency | OutOfScope | Dispatch | Split | Manual


def outcome_data(outcome: TriageOutcome) -> dict[str, Any]:
    """JSON-ready form for the triage event's data and the audit trail."""
    return asdict(outcome)


# --- tiers ----------------------------------------------------------------------------

LOCAL_TIERS = frozenset({OrgTier.TOWN_STREET, OrgTier.VILLAGE_COMMUNITY})
DEPARTMENT_UNITS = frozenset({OrgTier.DEPARTMENT, OrgTier.PUBLIC_SERVICE})
#: Which unit tiers may carry a category of each non-local tier (the push-down guard).
ALLOWED_UNIT_TIERS: Mapping[OrgTier, frozenset[OrgTier]] = {
    OrgTier.DEPARTMENT: DEPARTMENT_UNITS,
    OrgTier.PUBLIC_SERVICE: DEPARTMENT_UNITS,
    OrgTier.DISTRICT: DEPARTMENT_UNITS | {OrgTier.DISTRICT},
    OrgTier.SOCIAL_UNIT: frozenset({OrgTier.SOCIAL_UNIT}),
}


# --- text -----------------------------------------------------------------------------

_CLAUSE = re.compile(r"[^。！？!?；;，,\r\n…]+")
_BLANK = "\x00"


@dataclass(frozen=True)
class _Clause:
    raw: str
    folded: str
    weight: int
    in_title: bool


#: Clauses that only join two matters ("另外，…"): they belong with the clause after them.
_CONNECTIVES = frozenset({"另外", "此外", "还有", "同时", "并且", "而且", "再者", "其次", "另"})


def _clauses(title: str, content: str, title_weight: int) -> list[_Clause]:
    found: list[_Clause] = []
    for text, weight, in_title in ((title, title_weight, True), (content, 1, False)):
        pending = ""
        for piece in _CLAUSE.finditer(text):
            raw = piece.group().strip()
            if raw in _CONNECTIVES:
                pending += raw + "，"
            elif raw:
                raw, pending = pending + raw, ""
                found.append(_Clause(raw, fold(raw), weight, in_title))
        if pending:
            raw = pending.rstrip("，")
            found.append(_Clause(raw, fold(raw), weight, in_title))
    return found


def _blank(text: str, phrases: Iterable[str]) -> str:
    for phrase in phrases:
        text = text.replace(phrase, _BLANK * len(phrase))
    return text


def _rule_fires(rule: KeywordRule, text: str) -> bool:
    text = _blank(text, rule.ignore_phrases)
    if rule.any_keyword.search(text) is None:
        return False
    return not rule.requires or rule.any_required.search(text) is not None


def _occurrences(text: str, keyword: str) -> Iterable[int]:
    start = text.find(keyword)
    while start >= 0:
        yield start
        start = text.find(keyword, start + 1)


# --- keyword scoring ------------------------------------------------------------------


@dataclass
class _Tally:
    """A category's evidence over the whole text: (clause weight, keyword) per clause."""

    first: tuple[int, int] = (1 << 30, 0)
    hits: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(weight * len(word) for weight, word in self.hits)

    @property
    def keywords(self) -> list[str]:
        return list(dict.fromkeys(word for _, word in self.hits))

    def own_score(self, shared: Collection[str], supporting: Collection[str]) -> int:
        """Score from keywords another category does not also list (supporting ones left out)."""
        return sum(
            weight * len(word)
            for weight, word in self.hits
            if word not in shared and word not in supporting
        )


@dataclass(frozen=True)
class _Detection:
    clauses: list[_Clause]
    winners: list[str | None]  # best category of each clause
    tallies: dict[str, _Tally]
    ranked: list[str]  # detected matters, best first
    index: dict[str, tuple[str, ...]]


#: The last keyword index built, with the catalogue and policy it was built from: they
#: change only when reference data is reloaded, while every order needs the index.
_INDEX_CACHE: list[tuple[CatalogueLike, DispatchPolicy, dict[str, tuple[str, ...]]]] = []


def _keyword_index(catalogue: CatalogueLike, policy: DispatchPolicy) -> dict[str, tuple[str, ...]]:
    for cached_catalogue, cached_policy, index in _INDEX_CACHE:
        if cached_catalogue is catalogue and cached_policy is policy:
            return index
    skip = set(policy.catch_all_categories)
    index = {}
    for code in sorted(catalogue.categories):
        if code in skip:
            continue
        words = [fold(k).strip() for k in catalogue.categories[code].keywords]
        words += policy.keyword_hints.get(code, [])
        index[code] = tuple(sorted({w for w in words if w}))
    _INDEX_CACHE[:] = [(catalogue, policy, index)]
    return index


@dataclass(frozen=True)
class _Matcher:
    """All of an index's keywords in one pattern: at each position, the longest keyword
    that starts there (a shorter one starting there lies inside it and never counts)."""

    pattern: re.Pattern[str]
    codes: dict[str, tuple[str, ...]]  # keyword → the categories listing it, sorted


#: The matcher of the last keyword index, built once per index like the index itself.
_MATCHER_CACHE: list[tuple[Mapping[str, tuple[str, ...]], _Matcher]] = []


def _matcher(index: Mapping[str, tuple[str, ...]]) -> _Matcher:
    for cached_index, matcher in _MATCHER_CACHE:
        if cached_index is index:
            return matcher
    codes: dict[str, list[str]] = {}
    for code in sorted(index):
        for word in index[code]:
            codes.setdefault(word, []).append(code)
    matcher = _Matcher(
        re.compile(f"(?=({_trie_pattern(codes)}))"), {w: tuple(c) for w, c in codes.items()}
    )
    _MATCHER_CACHE[:] = [(index, matcher)]
    return matcher


def _trie_pattern(words: Iterable[str]) -> str:
    """A pattern matching the longest of `words` that starts where it is tried: the words
    as a tree of shared prefixes (a regular alternation would try every word in turn at
    every position), each optional continuation tried first."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        branches = [re.escape(c) + render(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        if "" in node:
            return "(?:" + "|".join(branches) + ")?"
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return render(root) or "(?!)"


def _clause_hits(
    text: str, index: Mapping[str, tuple[str, ...]], supporting: frozenset[str]
) -> dict[str, tuple[int, list[str]]]:
    """category → (first position, distinct counted keywords) for one folded clause.

    A keyword inside a longer one that matched (所在 inside 所在地) does not count."""
    matcher = _matcher(index)
    spans = [
        (m.start(), m.start() + len(m.group(1)), m.group(1)) for m in matcher.pattern.finditer(text)
    ]
    found: dict[str, tuple[int, list[str]]] = {}
    reach = -1  # the furthest end of a keyword that starts earlier
    for start, end, word in spans:
        # one keyword per start (the longest), so only an earlier one can hold this one
        inside = end <= reach
        reach = max(reach, end)
        if inside:
            continue
        for code in matcher.codes[word]:
            first, words = found.get(code, (start, []))
            if word not in words:
                found[code] = (first, [*words, word])
    return {
        code: entry for code, entry in found.items() if any(w not in supporting for w in entry[1])
    }


def _detect(order: OrderLike, catalogue: CatalogueLike, policy: DispatchPolicy) -> _Detection:
    scoring = policy.scoring
    index = _keyword_index(catalogue, policy)
    supporting = frozenset(scoring.supporting_keywords)
    clauses = _clauses(order.title, order.content, scoring.title_weight)
    per_clause: list[dict[str, int]] = []
    tallies: dict[str, _Tally] = {}
    for n, clause in enumerate(clauses):
        found = _clause_hits(clause.folded, index, supporting)
        per_clause.append({code: sum(len(w) for w in words) for code, (_, words) in found.items()})
        for code, (first, words) in found.items():
            tally = tallies.setdefault(code, _Tally())
            tally.first = min(tally.first, (n, first))
            tally.hits += [(clause.weight, w) for w in words]

    totals = {code: tally.total for code, tally in tallies.items()}

    def rank(code: str) -> tuple[int, tuple[int, int], str]:
        return (-totals[code], tallies[code].first, code)

    winners: list[str | None] = []
    for scores in per_clause:
        best = min(scores, key=lambda c: (-scores[c], *rank(c))) if scores else None
        winners.append(best)
    won = {w for w in winners if w is not None}
    ranked = sorted((c for c in won if totals[c] >= scoring.min_score), key=rank)
    return _Detection(clauses, winners, tallies, ranked, index)


def _matter_texts(detection: _Detection, kept: Sequence[str]) -> dict[str, str]:
    """Each kept category's part of the content.

    A clause nobody kept joins the matter before it; leading ones join the main matter.
    A matter named only in the title gets its title clauses.
    """
    owners = [w if w in kept else None for w in detection.winners]
    parts: dict[str, list[str]] = {code: [] for code in kept}
    current = kept[0]
    for clause, owner in zip(detection.clauses, owners, strict=True):
        if clause.in_title:
            continue
        current = owner or current
        parts[current].append(clause.raw)
    for clause, owner in zip(detection.clauses, owners, strict=True):
        if clause.in_title and owner and not parts[owner]:
            parts[owner].append(clause.raw)
    return {code: "，".join(parts[code]) for code in kept}


# --- region and units -----------------------------------------------------------------


def delivery_unit(unit: OrgUnit, units: Mapping[str, OrgUnit]) -> str:
    """The unit if it has a connector, else its nearest ancestor with one (never the
    district itself), else the unit — whose orders then land in the hub inbox."""
    seen: set[str] = set()
    current: OrgUnit | None = unit
    while current is not None and current.code not in seen:
        seen.add(current.code)
        if current.connector and current.tier != OrgTier.DISTRICT:
            return current.code
        current = units.get(current.parent) if current.parent else None
    return unit.code


def area_at(latitude: float, longitude: float, areas: Sequence[Area]) -> Area | None:
    """The first configured village/community outline containing the point."""
    return next((a for a in areas if in_ring(longitude, latitude, a.ring)), None)


def unit_for_region(
    region_code: str, tier: OrgTier, units: Mapping[str, OrgUnit]
) -> OrgUnit | None:
    """The unit of `tier` whose region codes hold the longest prefix of `region_code`."""
    best: tuple[int, str] | None = None
    for code, unit in units.items():
        if unit.tier != tier:
            continue
        length = max((len(rc) for rc in unit.region_codes if region_code.startswith(rc)), default=0)
        if length and (best is None or (-length, code) < (-best[0], best[1])):
            best = (length, code)
    return units[best[1]] if best else None


@dataclass(frozen=True)
class _Resolution:
    unit: OrgUnit | None
    how: str


def _resolve(
    category: Category,
    location: LocationLike | None,
    catalogue: CatalogueLike,
    policy: DispatchPolicy,
) -> _Resolution:
    units = catalogue.units
    tier = category.tier
    if tier in LOCAL_TIERS:
        region = location.region_code if location else None
        if region:
            unit = unit_for_region(region, tier, units)
            if unit:
                return _Resolution(
                    unit, f"按区划代码 {region} 落到{unit.name} (resolved by region code)"
                )
        if location and location.latitude is not None and location.longitude is not None:
            area = area_at(location.latitude, location.longitude, policy.areas)
            unit = unit_for_region(area.region_code, tier, units) if area else None
            if area and unit:
                return _Resolution(
                    unit,
                    f"按坐标落在{area.name}范围内，由{unit.name}办理 (resolved by coordinates)",
                )
        sample = units.get(category.lead_unit) if category.lead_unit else None
        if policy.region.fallback_to_sample_lead and sample and sample.tier == tier:
            return _Resolution(
                sample, "无法定位，按派单目录示例默认单位 (no region match: sample default unit)"
            )
        return _Resolution(
            None,
            f"{tier.label}层级事项“{category.name}”无法按区划代码或坐标确定承办单位 "
            f"(no {tier.value} unit matches the region code or coordinates)",
        )
    lead = units.get(category.lead_unit) if category.lead_unit else None
    if lead is None:
        return _Resolution(
            None, f"类别“{category.name}”未配置主办单位 (the category has no lead unit)"
        )
    allowed = ALLOWED_UNIT_TIERS.get(tier, frozenset({tier}))
    if lead.tier not in allowed:
        return _Resolution(
            None,
            f"部门职责不得下沉：类别“{category.name}”为{tier.label}职责，不能派给{lead.name}"
            f"（{lead.tier.label}）"
            f"(a {tier.value} duty is never pushed down to a {lead.tier.value})",
        )
    return _Resolution(lead, f"派单目录主办单位{lead.name} (catalogue lead unit)")


class _Unresolved(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _plan(
    categories: Sequence[str],
    why: Mapping[str, str],
    location: LocationLike | None,
    catalogue: CatalogueLike,
    policy: DispatchPolicy,
    notes: list[str],
) -> tuple[PlannedAssignment, ...]:
    """Lead = first category's unit; co = its co_units, then each other matter's units."""
    units = catalogue.units
    planned: dict[str, PlannedAssignment] = {}

    def add(unit: OrgUnit, role: AssignmentRole, code: str, reason: str) -> None:
        if unit.code not in planned:
            planned[unit.code] = PlannedAssignment(
                unit.code, role, code, reason, delivery_unit(unit, units)
            )

    for n, code in enumerate(categories):
        category = catalogue.categories[code]
        found = _resolve(category, location, catalogue, policy)
        if found.unit is None:
            raise _Unresolved(found.how)
        role = AssignmentRole.LEAD if n == 0 else AssignmentRole.CO
        add(found.unit, role, code, f"{why[code]}；{found.how}")
        allowed = ALLOWED_UNIT_TIERS.get(category.tier)
        for co_code in category.co_units:
            co = units.get(co_code)
            if co is None:
                notes.append(f"协办单位 {co_code} 不存在，已跳过 (unknown co-handler skipped)")
            elif allowed is not None and co.tier not in allowed:
                notes.append(
                    f"部门职责不得下沉：跳过协办单位{co.name} (co-handler below department tier "
                    f"skipped for {code})"
                )
            else:
                add(
                    co,
                    AssignmentRole.CO,
                    code,
                    f"派单目录协办单位（{category.name}） (catalogue co-handler of {code})",
                )
    return tuple(planned.values())


# --- the rule -------------------------------------------------------------------------


def _source_hotline(order: OrderLike) -> str | None:
    direct = getattr(order, "source_hotline", None)
    if isinstance(direct, str):
        return direct
    line = getattr(getattr(order, "origin", None), "source_hotline", None)
    return line if isinstance(line, str) else None


def _matters(detection: _Detection, kept: Sequence[str]) -> tuple[Matter, ...]:
    texts = _matter_texts(detection, kept)
    return tuple(
        Matter(
            code,
            detection.tallies[code].total if code in detection.tallies else 0,
            tuple(detection.tallies[code].keywords) if code in detection.tallies else (),
            texts.get(code, ""),
        )
        for code in kept
    )


def _keyword_why(code: str, category: Category, detection: _Detection) -> str:
    words = "、".join(detection.tallies[code].keywords[:5]) if code in detection.tallies else ""
    return f"关键词“{words}”识别为“{category.name}” (keywords matched {code})"


def triage(
    order: OrderLike,
    catalogue: CatalogueLike,
    policy: DispatchPolicy,
    *,
    mark: str | None = None,
) -> TriageOutcome:
    """Decide emergency / out of scope / dispatch / split / manual for one request.

    `mark` is a rule code chosen by response-centre staff (e.g. "malicious" for a call
    no keyword reveals); it fires that emergency or out-of-scope rule directly.
    """
    if mark is not None and mark not in {rule.code for rule in policy.rules}:
        raise ValueError(f"未知的分单规则 {mark!r} (unknown triage rule)")
    text = fold(f"{order.title}\n{order.content}")
    if mark is not None or policy.any_rule_keyword.search(text) is not None:
        ruled = _by_rule(text, policy, mark)
        if ruled is not None:
            return ruled

    detection = _detect(order, catalogue, policy)
    explicit = order.category_code
    hotline_code = _source_hotline(order)
    hotline = catalogue.hotlines.get(hotline_code) if hotline_code else None
    if explicit is None and hotline is not None:
        explicit = hotline.default_category  # as intake does for a submission
    if explicit is not None and explicit not in catalogue.categories:
        return Manual(f"未知的诉求类别 {explicit!r} (unknown category)")
    catch_all = explicit if explicit in policy.catch_all_categories else None
    chosen = None if catch_all else explicit

    why: dict[str, str] = {}
    if chosen is not None:
        primary = chosen
        why[primary] = f"诉求类别“{catalogue.categories[primary].name}” (category {primary} chosen)"
    elif detection.ranked:
        primary = detection.ranked[0]
        why[primary] = _keyword_why(primary, catalogue.categories[primary], detection)
    else:
        return _fallback(catalogue, policy, hotline, catch_all)

    shared = set(detection.index.get(primary, ()))
    supporting = set(policy.scoring.supporting_keywords)
    secondary = [
        c
        for c in detection.ranked
        if c != primary
        and detection.tallies[c].own_score(shared, supporting) >= policy.scoring.secondary_min_score
    ]
    for code in secondary:
        why[code] = "诉求另含" + _keyword_why(code, catalogue.categories[code], detection)
    kept = [primary, *secondary]
    matters = _matters(detection, kept)
    notes: list[str] = []
    location = order.location

    groups: dict[int, list[str]] = {}
    for code in kept:
        group = policy.split.group_of(catalogue.categories[code].tier)
        groups.setdefault(group, []).append(code)
    try:
        if policy.split.enabled and len(groups) > 1:
            texts = {m.category_code: m.text for m in matters}
            children = []
            for codes in groups.values():  # insertion order: the main matter's group first
                assignments = _plan(codes, why, location, catalogue, policy, notes)
                text = "，".join(t for t in (texts[c] for c in codes) if t) or order.content
                children.append(ChildOrder(codes[0], text, assignments, tuple(codes)))
            return Split(
                tuple(children),
                f"诉求含不同层级的事项，拆分为 {len(children)} 个子单 "
                f"(matters at different tiers: {len(children)} child orders)",
                matters,
                tuple(notes),
            )
        assignments = _plan(kept, why, location, catalogue, policy, notes)
    except _Unresolved as exc:
        return Manual(f"{exc.reason}，转人工分单 (manual triage)", matters, tuple(notes))
    names = "、".join(catalogue.units[a.unit_code].name for a in assignments[1:])
    lead_name = catalogue.units[assignments[0].unit_code].name
    return Dispatch(
        primary,
        assignments,
        f"主办：{lead_name}"
        + (f"；协办：{names}" if names else "")
        + f" (lead {assignments[0].unit_code}, {len(assignments) - 1} co-handlers)",
        matters,
        tuple(notes),
    )


def _by_rule(text: str, policy: DispatchPolicy, mark: str | None) -> Emergency | OutOfScope | None:
    """An emergency transfer or an out-of-scope answer, if a rule fires (or is marked)."""
    fired = [r for r in policy.emergency if r.code == mark or _rule_fires(r, text)]
    if fired:
        first = fired[0]
        also = tuple(dict.fromkeys(r.hotline for r in fired[1:] if r.hotline != first.hotline))
        return Emergency(
            first.hotline,
            first.code,
            f"紧急情形（{first.name}），立即转 {first.hotline} (emergency: transfer to "
            f"{first.hotline})",
            first.notice,
            also,
        )
    for rule in policy.out_of_scope:
        if rule.code == mark or _rule_fires(rule, text):
            return OutOfScope(
                rule.code, rule.route, f"不予受理：{rule.name} (out of scope: {rule.code})"
            )
    return None


def _fallback(
    catalogue: CatalogueLike,
    policy: DispatchPolicy,
    hotline: Hotline | None,
    catch_all: str | None,
) -> TriageOutcome:
    """Nothing detected: the merged hotline's default unit, else the manual queue."""
    unit = (
        catalogue.units.get(hotline.default_unit)
        if hotline is not None and hotline.default_unit and policy.use_hotline_default_unit
        else None
    )
    code = catch_all or (hotline.default_category if hotline else None)
    if unit is not None and code is not None and unit.code != policy.response_centre:
        assert hotline is not None
        reason = (
            f"未识别出具体类别，按来电热线 {hotline.number}（{hotline.name}）"
            f"默认单位{unit.name}办理 "
            f"(default unit of hotline {hotline.number})"
        )
        assignment = PlannedAssignment(
            unit.code, AssignmentRole.LEAD, code, reason, delivery_unit(unit, catalogue.units)
        )
        return Dispatch(code, (assignment,), reason)
    return Manual("未能识别诉求类别，转人工分单 (no category matched: manual triage)")
