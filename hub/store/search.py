"""Chinese full-text search over the matter catalogue, the same on SQLite and PostgreSQL.

Chinese has no spaces between words, and the words people type are short: 社保, 食品,
营业执照. Each matter's name and keywords are normalised (NFKC folds full-width forms,
lower case) and cut into character bigrams (二元切分) kept in `service_matter_grams`. A
query term of two or more characters finds its candidates as the matters holding all of its
bigrams (an indexed lookup), then a substring test on the normalised text confirms them;
a one-character term is a substring test alone. When nothing matches every term, matters
holding most of the query's bigrams are offered instead (食品经营许可证 still finds
食品经营许可). Ranking: exact name, name prefix, name containing the query, every term in
the name, terms found in keywords, then partial matches; shorter names first within a rank.

Why not FTS5 or pg_trgm: FTS5 tables are virtual tables with shadow tables that the schema
cannot declare, and a trigram index cannot serve the one- and two-character terms that
most Chinese queries are made of. One bigram table serves both databases with one ranking.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    true,
)

from hub.model.service_matter import ServiceMatter
from hub.store.bulk import insert_rows, insert_spread
from hub.store.schema import service_matter_grams, service_matter_search, service_matters

#: Separators between words a user or a department may write (spaces, punctuation).
_SPLIT = re.compile(r"[\s,，、;；。.:：/|()（）\[\]【】《》<>\"'“”‘’!！?？+]+")
_CODE = re.compile(r"^[0-9a-z]{6,24}$")
_WRITE_CHUNK = 2000
_LOOKUP_CHUNK = 500
#: A partial match must hold at least this share of the query's bigrams.
PARTIAL_SHARE = 0.6
MAX_TERMS = 8


def normalise(text: str) -> str:
    """NFKC (全角 → 半角, compatibility forms) and lower case: what is stored and sought."""
    return unicodedata.normalize("NFKC", text).lower().strip()


def terms_of(query: str) -> list[str]:
    """The query's words, normalised, without duplicates, at most MAX_TERMS."""
    seen: list[str] = []
    for term in _SPLIT.split(normalise(query)):
        if term and term not in seen:
            seen.append(term)
    return seen[:MAX_TERMS]


def bigrams(text: str) -> set[str]:
    """Character pairs within each word of `text` (never across a separator)."""
    return {word[i : i + 2] for word in _SPLIT.split(text) for i in range(len(word) - 1)}


# --- writing ------------------------------------------------------------------------------


@lru_cache(maxsize=65_536)
def _text_grams(text: str) -> frozenset[str]:
    """bigrams(normalise(text)): names repeat across units and years, so each is cut once."""
    return frozenset(bigrams(normalise(text)))


@lru_cache(maxsize=65_536)
def _name_grams(name: str) -> str:
    """The name's bigrams as the JSON array insert_spread takes."""
    return to_json(sorted(_text_grams(name))).decode()


def _grams_json(matter: ServiceMatter) -> str:
    if not matter.keywords:
        return _name_grams(matter.name)
    held = _text_grams(matter.name).union(*(_text_grams(k) for k in matter.keywords))
    return to_json(sorted(held)).decode()


_normalised_name = lru_cache(maxsize=65_536)(normalise)

_SEARCH = (
    "implementation_code", "basic_code", "name", "keywords", "unit_code", "matter_type",
    "use_level", "online", "visits_required", "status",
)  # fmt: skip


def _search_row(matter: ServiceMatter) -> tuple[Any, ...]:
    keywords = [k for k in (normalise(k) for k in matter.keywords) if k]
    return (
        matter.implementation_code,
        matter.basic_code,
        _normalised_name(matter.name),
        "\n".join(keywords),
        matter.unit_code,
        # str(): the code itself (a StrEnum's .value is a slow descriptor per access)
        str(matter.matter_type),
        str(matter.use_level),
        matter.online,
        matter.visits_required,
        str(matter.status),
    )


def index_matters(conn: Connection, matters: Sequence[ServiceMatter], *, fresh: bool) -> None:
    """(Re)write the search rows and bigrams of these matters, in the caller's transaction.

    `fresh`: none of them has search rows yet (first sync), so nothing needs deleting.
    """
    if not matters:
        return
    latest = {m.implementation_code: m for m in matters}  # a batch may change one twice
    if not fresh:
        _remove(conn, list(latest))
    rows = [_search_row(m) for m in latest.values()]
    insert_rows(conn, service_matter_search, _SEARCH, rows, one_statement=True)
    grams = [(code, _grams_json(m)) for code, m in latest.items()]
    insert_spread(conn, service_matter_grams, "gram", "implementation_code", grams)


_DELETE_GRAM = delete(service_matter_grams).where(
    and_(
        service_matter_grams.c.gram == bindparam("old_gram"),
        service_matter_grams.c.implementation_code == bindparam("old_code"),
    )
)


def _remove(conn: Connection, codes: list[str]) -> None:
    """Drop these matters' search rows and their bigrams, found from the rows themselves
    (the bigram table is keyed by bigram first, so no second index has to be kept up)."""
    s = service_matter_search.c
    old: list[dict[str, str]] = []
    for start in range(0, len(codes), _LOOKUP_CHUNK):
        chunk = codes[start : start + _LOOKUP_CHUNK]
        for code, name, keywords in conn.execute(
            select(s.implementation_code, s.name, s.keywords).where(
                s.implementation_code.in_(chunk)
            )
        ):
            old += [
                {"old_gram": gram, "old_code": code} for gram in bigrams(name) | bigrams(keywords)
            ]
        conn.execute(delete(service_matter_search).where(s.implementation_code.in_(chunk)))
    if old:
        conn.execute(_DELETE_GRAM, old)


def rebuild_search_index(conn: Connection) -> int:
    """Build the search rows of every stored matter from scratch; returns how many."""
    conn.execute(delete(service_matter_grams))
    conn.execute(delete(service_matter_search))
    count = 0
    batch: list[ServiceMatter] = []
    for (data,) in conn.execute(select(service_matters.c.data)).all():
        batch.append(ServiceMatter.model_validate(data))
        if len(batch) >= _WRITE_CHUNK:
            index_matters(conn, batch, fresh=True)
            count += len(batch)
            batch = []
    index_matters(conn, batch, fresh=True)
    return count + len(batch)


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatterQuery:
    """A search: free text and filters, all optional; statuses default to in use (在用)."""

    text: str | None = None
    unit_code: str | None = None
    matter_types: Sequence[str] = ()
    use_levels: Sequence[str] = ()
    online: bool | None = None
    max_visits: int | None = None
    statuses: Sequence[str] = ("active",)
    limit: int = 20
    offset: int = 0


@dataclass
class MatterHits:
    total: int
    items: list[dict[str, Any]] = field(default_factory=list)
    #: True when no matter held every term and the partial matches are shown instead.
    partial: bool = False


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, term: str) -> ColumnElement[bool]:
    return column.like(f"%{_escape_like(term)}%", escape="\\")


def _filters(query: MatterQuery) -> list[ColumnElement[bool]]:
    s = service_matter_search.c
    conditions: list[ColumnElement[bool]] = []
    if query.statuses:
        conditions.append(s.status.in_(list(query.statuses)))
    if query.unit_code:
        conditions.append(s.unit_code == query.unit_code)
    if query.matter_types:
        conditions.append(s.matter_type.in_(list(query.matter_types)))
    if query.use_levels:
        conditions.append(s.use_level.in_(list(query.use_levels)))
    if query.online is not None:
        conditions.append(s.online == query.online)
    if query.max_visits is not None:
        conditions.append(s.visits_required <= query.max_visits)
    return conditions


def _holding_all(grams: Iterable[str]) -> Select[Any]:
    wanted = sorted(set(grams))
    g = service_matter_grams.c
    return (
        select(g.implementation_code)
        .where(g.gram.in_(wanted))
        .group_by(g.implementation_code)
        .having(func.count() == len(wanted))
    )


def _rank(whole: str, terms: list[str]) -> ColumnElement[int]:
    s = service_matter_search.c
    return case(
        (s.name == whole, 0),
        (s.name.like(f"{_escape_like(whole)}%", escape="\\"), 1),
        (_contains(s.name, whole), 2),
        (and_(*[_contains(s.name, t) for t in terms]), 3),
        else_=4,
    )


def _page(
    conn: Connection,
    conditions: list[ColumnElement[bool]],
    order: list[Any],
    query: MatterQuery,
    rank: ColumnElement[int] | None = None,
) -> MatterHits:
    s, m = service_matter_search.c, service_matters.c
    where = and_(true(), *conditions)
    total = conn.execute(
        select(func.count()).select_from(service_matter_search).where(where)
    ).scalar_one()
    rows = conn.execute(
        select(m.data, m.version_no, m.updated_at, rank if rank is not None else null())
        .select_from(
            service_matter_search.join(
                service_matters, s.implementation_code == m.implementation_code
            )
        )
        .where(where)
        .order_by(*order)
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    return MatterHits(total, [_hit(r) for r in rows])


def _hit(row: Any) -> dict[str, Any]:
    return {"data": row[0], "version_no": row[1], "updated_at": row[2], "rank": row[3]}


def search_matters(conn: Connection, query: MatterQuery) -> MatterHits:
    """One page of matters matching the query, best first, with the total count."""
    s = service_matter_search.c
    filters = _filters(query)
    terms = terms_of(query.text or "")
    if not terms:
        return _page(conn, filters, [s.implementation_code], query)
    whole = "".join(terms)
    if len(terms) == 1 and _CODE.match(whole):  # 实施编码 / 基本编码
        upper = whole.upper()
        by_code = [*filters, or_(s.implementation_code == upper, s.basic_code.in_([whole, upper]))]
        found = _page(conn, by_code, [s.implementation_code], query)
        if found.total:
            return found
    matching = [or_(_contains(s.name, t), _contains(s.keywords, t)) for t in terms]
    grams = set().union(*(bigrams(t) for t in terms))
    candidates = [s.implementation_code.in_(_holding_all(grams))] if grams else []
    rank = _rank(whole, terms)
    order = [rank, func.length(s.name), s.implementation_code]
    hits = _page(conn, [*filters, *candidates, *matching], order, query, rank)
    if hits.total or len(grams) < 3:
        return hits
    return _partial(conn, query, filters, grams)


def _partial(
    conn: Connection, query: MatterQuery, filters: list[ColumnElement[bool]], grams: set[str]
) -> MatterHits:
    """Matters holding most of the query's bigrams, the most first."""
    s, g = service_matter_search.c, service_matter_grams.c
    need = max(2, -(-len(grams) * int(PARTIAL_SHARE * 100) // 100))
    held = (
        select(g.implementation_code, func.count().label("held"))
        .where(g.gram.in_(sorted(grams)))
        .group_by(g.implementation_code)
        .having(func.count() >= need)
        .subquery()
    )
    joined = service_matter_search.join(held, held.c.implementation_code == s.implementation_code)
    where = and_(true(), *filters)
    total = conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    m = service_matters.c
    rows = conn.execute(
        select(m.data, m.version_no, m.updated_at, literal(5))
        .select_from(joined.join(service_matters, m.implementation_code == s.implementation_code))
        .where(where)
        .order_by(held.c.held.desc(), func.length(s.name), s.implementation_code)
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    return MatterHits(total, [_hit(r) for r in rows], partial=True)
