"""Sync fingerprints: a digest of each raw record as it was last stored, per stream.

A full re-read of a 100,000-matter list that changed in a handful of places should cost
the reading, not the mapping and validating of every record again: a record whose digest
is known was stored exactly so (the digest covers the mapping file too, so editing a
mapping makes every record new again). Digests are written in the transaction that stores
their records, so a known digest always means a stored record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic_core import to_json
from sqlalchemy import Connection, and_, delete, select

from hub import __version__
from hub.mapping.sources import XmlRecord
from hub.store.bulk import insert_rows
from hub.store.schema import sync_fingerprints, sync_pages

_CHUNK = 500


def digester(mapping_path: Path, source: str, *, child_texts: bool = False) -> Callable[[Any], str]:
    """A function from a raw record (lxml element, JSON value or row) to its digest.

    `child_texts`: the mapping reads nothing of an XML record but the texts of its direct
    children (Mapping.reads_child_texts_only), and the records are given prepared
    (Mapping.prepare): the digest covers those texts — everything the mapping can see, so
    equal digests still mean equal canonical records — without serialising each element
    again (lxml lets the GIL go for every element it writes, and a busy writer thread then
    holds the sync up at each one).
    """
    scheme = b"\x00child-texts" if child_texts else b""
    salt = hashlib.blake2b(
        mapping_path.read_bytes() + __version__.encode() + scheme, digest_size=20
    ).digest()

    def raw_bytes(record: Any) -> bytes:
        if isinstance(record, XmlRecord):
            if child_texts:
                return to_json(record.texts)
            record = record.element
        if source == "xml" and isinstance(record, etree._Element):
            return bytes(etree.tostring(record, with_tail=False))
        return to_json(record, fallback=str)

    def digest(record: Any) -> str:
        return hashlib.blake2b(salt + raw_bytes(record), digest_size=20).hexdigest()

    return digest


def known_digests(
    conn: Connection, connector: str, stream: str, digests: Iterable[str]
) -> set[str]:
    """Which of these digests are recorded for the stream (records stored exactly so)."""
    wanted = list(dict.fromkeys(digests))
    f = sync_fingerprints.c
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        found.update(
            conn.execute(
                select(f.digest).where(
                    and_(
                        f.connector == connector,
                        f.stream == stream,
                        f.digest.in_(wanted[start : start + _CHUNK]),
                    )
                )
            ).scalars()
        )
    return found


def remember(conn: Connection, connector: str, stream: str, digests: Mapping[str, str]) -> None:
    """Record key → digest of what was just stored (replacing the key's earlier digest)."""
    insert_rows(
        conn,
        sync_fingerprints,
        ("connector", "stream", "record_key", "digest"),
        [(connector, stream, k, d) for k, d in digests.items()],
        replace_on=("connector", "stream", "record_key"),
        one_statement=True,
    )


def has_fingerprints(conn: Connection, connector: str, stream: str) -> bool:
    """Whether the stream has stored anything yet (a first sync need not look digests up)."""
    f = sync_fingerprints.c
    found = conn.execute(
        select(f.record_key).where(and_(f.connector == connector, f.stream == stream)).limit(1)
    ).first()
    return found is not None


def forget(conn: Connection, connector: str, stream: str) -> int:
    """Drop the stream's fingerprints and pages: the next pull maps and compares every
    record again. Returns how many record fingerprints there were."""
    p = sync_pages.c
    conn.execute(delete(sync_pages).where(and_(p.connector == connector, p.stream == stream)))
    f = sync_fingerprints.c
    return conn.execute(
        delete(sync_fingerprints).where(and_(f.connector == connector, f.stream == stream))
    ).rowcount


# --- whole pages --------------------------------------------------------------------------

#: Pages not seen again for this long are forgotten (a re-read then checks each record).
PAGE_MEMORY = timedelta(days=30)


@dataclass(frozen=True)
class KnownPage:
    records: int
    cursor: str | None
    seen_at: datetime | None = None


def page_digester(mapping_path: Path) -> Callable[[bytes], str]:
    """Raw page bytes → digest; the mapping file is part of it, as for records."""
    salt = hashlib.blake2b(
        mapping_path.read_bytes() + __version__.encode(), digest_size=20
    ).digest()
    return lambda raw: hashlib.blake2b(salt + raw, digest_size=20).hexdigest()


def known_page(conn: Connection, connector: str, stream: str, digest: str) -> KnownPage | None:
    """A page stored completely before, exactly so."""
    p = sync_pages.c
    row = conn.execute(
        select(p.records, p.cursor, p.seen_at).where(
            and_(p.connector == connector, p.stream == stream, p.digest == digest)
        )
    ).first()
    return None if row is None else KnownPage(row.records, row.cursor, _aware(row.seen_at))


def touch_page(conn: Connection, connector: str, stream: str, digest: str, now: datetime) -> None:
    """Seen again: keep it another PAGE_MEMORY."""
    p = sync_pages.c
    conn.execute(
        sync_pages.update()
        .where(and_(p.connector == connector, p.stream == stream, p.digest == digest))
        .values(seen_at=now)
    )


def remember_pages(
    conn: Connection, connector: str, stream: str, pages: Mapping[str, KnownPage], now: datetime
) -> None:
    """Record pages (digest → what was stored from it) as stored whole, seen `now`: one
    upsert for all of them, replacing what an earlier read recorded."""
    insert_rows(
        conn,
        sync_pages,
        ("connector", "stream", "digest", "records", "cursor", "seen_at"),
        [(connector, stream, d, page.records, page.cursor, now) for d, page in pages.items()],
        replace_on=("connector", "stream", "digest"),
        one_statement=True,
    )


def prune_pages(conn: Connection, connector: str, stream: str, now: datetime) -> int:
    p = sync_pages.c
    return conn.execute(
        delete(sync_pages).where(
            and_(p.connector == connector, p.stream == stream, p.seen_at < now - PAGE_MEMORY)
        )
    ).rowcount


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
