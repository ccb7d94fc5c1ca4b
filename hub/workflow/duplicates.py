"""Duplicate detection (并单): is a new request the same matter as an open one?

Repeated calls about one noisy site or one broken lamp should be merged into the first
order rather than dispatched again. A duplicate has the same category, the same place
(policy: equal region codes of village precision, equal normalised addresses, or
coordinates within N metres), was opened inside the window, and has similar text.

Similarity is the Jaccard coefficient of the sets of character bigrams of the two texts
after NFKC folding, lower-casing and dropping punctuation, symbols and spaces. Bigrams
work for Chinese without a word tokenizer: "路灯不亮" and "路灯坏了不亮" share 路灯, 灯不/不亮.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from hub.model.work_order import WorkOrder
from hub.workflow.dispatch_policy import DispatchPolicy, DuplicateSettings, SamePlace, fold
from hub.workflow.geo import distance_m


@dataclass(frozen=True)
class OrderSummary:
    """What 并单 needs of an open order; the store builds these from its rows."""

    wo_no: str
    category_code: str | None
    region_code: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    text: str
    created_at: datetime  # timezone-aware


PlaceMatch = Literal["region_code", "address", "distance"]


@dataclass(frozen=True)
class DuplicateMatch:
    wo_no: str
    score: float
    place: PlaceMatch
    distance_m: float | None
    reason: str


def summary_of(order: WorkOrder) -> OrderSummary:
    """An order's summary: the title and the content are compared together."""
    loc = order.location
    return OrderSummary(
        wo_no=order.wo_no,
        category_code=order.category_code,
        region_code=loc.region_code if loc else None,
        address=loc.address if loc else None,
        latitude=loc.latitude if loc else None,
        longitude=loc.longitude if loc else None,
        text=f"{order.title}\n{order.content}",
        created_at=order.created_at,
    )


def _letters(text: str) -> str:
    """Folded text without punctuation (P*), symbols (S*), separators (Z*) or controls (C*)."""
    return "".join(ch for ch in fold(text) if unicodedata.category(ch)[0] not in "PSZC")


def bigrams(text: str) -> frozenset[str]:
    letters = _letters(text)
    if len(letters) < 2:
        return frozenset({letters}) if letters else frozenset()
    return frozenset(letters[i : i + 2] for i in range(len(letters) - 1))


def similarity(a: str, b: str) -> float:
    """Jaccard coefficient of character-bigram sets, 0.0 … 1.0 (two empty texts: 0.0)."""
    first, second = bigrams(a), bigrams(b)
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def normalise_address(address: str, ignore_prefixes: Iterable[str] = ()) -> str:
    """Folded address without punctuation and spaces, and without leading place prefixes
    (河北省, 经开区 …) that one caller says and another leaves out."""
    letters = _letters(address)
    prefixes = sorted({_letters(p) for p in ignore_prefixes if _letters(p)}, key=len, reverse=True)
    stripped = True
    while stripped:
        stripped = False
        for prefix in prefixes:
            if letters.startswith(prefix):
                letters = letters[len(prefix) :]
                stripped = True
    return letters


def same_place(
    a: OrderSummary, b: OrderSummary, rules: SamePlace
) -> tuple[PlaceMatch, float | None] | None:
    """How the two orders are at one place, or None; the first rule that holds wins."""
    if (
        rules.region_code
        and a.region_code
        and a.region_code == b.region_code
        and len(a.region_code) >= rules.min_region_length
    ):
        return "region_code", None
    if rules.address and a.address and b.address:
        left = normalise_address(a.address, rules.address_ignore_prefixes)
        if left and left == normalise_address(b.address, rules.address_ignore_prefixes):
            return "address", None
    if (
        rules.within_metres is not None
        and a.latitude is not None
        and a.longitude is not None
        and b.latitude is not None
        and b.longitude is not None
    ):
        metres = distance_m(a.latitude, a.longitude, b.latitude, b.longitude)
        if metres <= rules.within_metres:
            return "distance", metres
    return None


_PLACE_TEXT: dict[PlaceMatch, str] = {
    "region_code": "同一村/社区区划代码 (same region code)",
    "address": "地址相同 (same address)",
    "distance": "坐标相距很近 (coordinates close together)",
}


def find_duplicate(
    candidate: OrderSummary,
    recent: Iterable[OrderSummary],
    policy: DispatchPolicy | DuplicateSettings,
) -> DuplicateMatch | None:
    """The open order `candidate` repeats, if any: highest similarity, then the earliest."""
    settings = policy.duplicates if isinstance(policy, DispatchPolicy) else policy
    if candidate.category_code is None:
        return None
    window = timedelta(hours=settings.window_hours)
    best: tuple[float, datetime, str, DuplicateMatch] | None = None
    for other in recent:
        if other.wo_no == candidate.wo_no or other.category_code != candidate.category_code:
            continue
        age = candidate.created_at - other.created_at
        if age < timedelta(0) or age > window:
            continue
        place = same_place(candidate, other, settings.same_place)
        if place is None:
            continue
        score = similarity(candidate.text, other.text)
        if score < settings.threshold:
            continue
        kind, metres = place
        match = DuplicateMatch(
            other.wo_no,
            score,
            kind,
            metres,
            f"与 {other.wo_no} 同类别、{_PLACE_TEXT[kind]}，文本相似度 {score:.2f} "
            f"(same category and place, similarity {score:.2f})",
        )
        key = (-score, other.created_at, other.wo_no)
        if best is None or key < best[:3]:
            best = (*key, match)
    return best[3] if best else None
