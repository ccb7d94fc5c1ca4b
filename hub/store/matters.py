"""The service-matter catalogue: upsert by implementation code, a new version per change.

A re-sync of unchanged matters writes nothing (content hash); deleted or suspended matters
keep their rows and versions with that status — the catalogue never forgets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Connection, and_, bindparam, or_, select

from hub.model.service_matter import ServiceMatter
from hub.store.bulk import insert_rows, select_in, update_rows
from hub.store.schema import service_matter_versions, service_matters
from hub.store.search import index_matters

# Fields that describe the sync, not the matter: a change in them alone is no new version.
_NOT_CONTENT = {"changed_at"}


@dataclass
class MatterCounts:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    #: The matters written (new or changed), for whoever follows the catalogue's changes.
    written: list[ServiceMatter] = field(default_factory=list)


def content_hash(data: dict[str, Any]) -> str:
    content = {k: v for k, v in data.items() if k not in _NOT_CONTENT}
    return hashlib.sha256(to_json(content, by_alias=False)).hexdigest()


def encode_matter(matter: ServiceMatter) -> tuple[str, str]:
    """The matter's stored JSON text (its `data`) and its content hash, as json_text(data)
    and content_hash(data) of data = model_dump(mode="json") give them — written once.

    The model's serialiser writes exactly what to_json writes of its JSON dump, with
    changed_at, the last field, last: the hashed content is that text without its final
    member. Anything else (a subclass, another field order) takes the long way.
    """
    text = type(matter).__pydantic_serializer__.to_json(matter)
    tail = b',"changed_at":' + to_json(matter.changed_at) + b"}"
    if text.endswith(tail):  # _NOT_CONTENT is {"changed_at"}
        content = text[: -len(tail)] + b"}"
        return text.decode(), hashlib.sha256(content).hexdigest()
    data = matter.model_dump(mode="json")
    return to_json(data).decode(), content_hash(data)


def _known(conn: Connection, codes: list[str]) -> dict[str, tuple[str, int]]:
    """Content hash and version number of the codes stored already (one statement per
    as many codes as the database binds at once, through the driver)."""
    rows = select_in(
        conn, service_matters, ("implementation_code", "content_hash", "version_no"),
        "implementation_code", codes,
    )  # fmt: skip
    return {code: (digest, version) for code, digest, version in rows}


#: Columns of a matter's current row, in this order (then created_at for a new one).
_CURRENT = (
    "basic_code", "name", "matter_type", "use_level", "unit_code", "unit_name", "status",
    "version_no", "content_hash", "data", "source", "changed_at", "updated_at",
    "implementation_code",
)  # fmt: skip
_VERSION = (
    "implementation_code", "version_no", "status", "content_hash", "data", "changed_at",
    "valid_from", "valid_to",
)  # fmt: skip


_CLOSE_VERSION = (
    service_matter_versions.update()
    .where(
        and_(
            service_matter_versions.c.implementation_code == bindparam("code"),
            service_matter_versions.c.valid_to.is_(None),
        )
    )
    .values(valid_to=bindparam("until"))
)


def encode_matters(matters: Sequence[ServiceMatter]) -> list[tuple[str, str]]:
    """encode_matter of each: what upsert_matters takes as `encoded`, e.g. worked out in
    the thread that maps the next page while a writer thread stores this one."""
    return [encode_matter(matter) for matter in matters]


def upsert_matters(
    conn: Connection,
    matters: list[ServiceMatter],
    *,
    source: str,
    now: datetime,
    encoded: Sequence[tuple[str, str]] | None = None,
) -> MatterCounts:
    """Write what is new or changed, in the caller's transaction; a version per change.

    A version is in force from the source's change time (cd_time) when it has one, so a
    case accepted before the change is judged by the version it was accepted under.
    `encoded`: encode_matters(matters), when worked out already.
    """
    if encoded is None or len(encoded) != len(matters):
        encoded = encode_matters(matters)
    counts = MatterCounts()
    known = _known(conn, [m.implementation_code for m in matters])
    stored = set(known)  # codes that already have rows (a later change updates them)
    inserts: dict[str, tuple[Any, ...]] = {}
    updates: dict[str, tuple[Any, ...]] = {}
    closes: dict[str, datetime] = {}
    versions: list[list[Any]] = []
    open_version: dict[str, list[Any]] = {}  # this batch's latest version per code
    for matter, (data, digest) in zip(matters, encoded, strict=True):
        code = matter.implementation_code
        previous = known.get(code)
        if previous is not None and previous[0] == digest:
            counts.unchanged += 1
            continue
        version = previous[1] + 1 if previous else 1
        status = str(matter.status)
        valid_from = matter.changed_at or now
        if code in open_version:  # superseded within this batch
            open_version[code][-1] = valid_from
        elif previous is not None:
            closes[code] = valid_from
        row = [code, version, status, digest, data, matter.changed_at, valid_from, None]
        open_version[code] = row
        versions.append(row)
        known[code] = (digest, version)
        current = (
            matter.basic_code,
            matter.name,
            str(matter.matter_type),
            str(matter.use_level),
            matter.unit_code,
            matter.unit_name,
            status,
            version,
            digest,
            data,
            source,
            matter.changed_at,
            now,
            code,
        )
        if code in stored:
            updates[code] = current
        else:
            inserts[code] = (*current, now)
        if previous is None:
            counts.inserted += 1
        else:
            counts.changed += 1
        counts.written.append(matter)
    # One statement per table (SQLite): the driver steps once per batch, without the GIL.
    # A change time is written in the current row and in the version: converted once.
    times: dict[int, Any] = {}
    insert_rows(
        conn,
        service_matters,
        (*_CURRENT, "created_at"),
        list(inserts.values()),
        encoded=("data",),
        same_times=times,
        one_statement=True,
    )
    update_rows(
        conn,
        service_matters,
        "implementation_code",
        _CURRENT[:-1],
        list(updates.values()),
        encoded=("data",),
        same_times=times,
    )
    if closes:
        conn.execute(_CLOSE_VERSION, [{"code": c, "until": t} for c, t in closes.items()])
    insert_rows(
        conn,
        service_matter_versions,
        _VERSION,
        versions,
        encoded=("data",),
        same_times=times,
        one_statement=True,
    )
    # The search rows follow in the same transaction: search never shows a stale matter.
    index_matters(conn, counts.written, fresh=not updates)
    return counts


def get_matter(conn: Connection, code: str) -> ServiceMatter | None:
    data = conn.execute(
        select(service_matters.c.data).where(service_matters.c.implementation_code == code)
    ).scalar_one_or_none()
    return ServiceMatter.model_validate(data) if data is not None else None


def matter_versions(conn: Connection, code: str) -> list[dict[str, Any]]:
    v = service_matter_versions.c
    rows = conn.execute(
        select(v.version_no, v.status, v.valid_from, v.valid_to, v.data)
        .where(v.implementation_code == code)
        .order_by(v.version_no)
    ).mappings()
    return [dict(r) for r in rows]


def matter_in_force(conn: Connection, code: str, moment: datetime) -> ServiceMatter | None:
    """The version that applied at `moment` (e.g. when a case was accepted)."""
    v = service_matter_versions.c
    data = conn.execute(
        select(v.data)
        .where(
            and_(
                v.implementation_code == code,
                v.valid_from <= moment,
                or_(v.valid_to.is_(None), v.valid_to > moment),
            )
        )
        .order_by(v.version_no.desc())
        .limit(1)
    ).scalar_one_or_none()
    return ServiceMatter.model_validate(data) if data is not None else None
