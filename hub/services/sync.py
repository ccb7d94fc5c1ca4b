"""Pull a connector's stream into the store: page → records → canonical → sink.

Per page, one transaction holds the stored records, the dead letters of the records that
failed and the new cursor: a crash mid-sync resumes from the last committed page, and a
re-run writes nothing new (sinks deduplicate). Nothing is ever dropped silently.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Engine

from hub.adapters.base import Adapter, Page
from hub.connectors.models import ConnectorConfig, Stream
from hub.mapping.batch import Failure, map_records
from hub.mapping.engine import Mapping, serialise_record
from hub.mapping.errors import MappingError
from hub.mapping.parsing import parse_page
from hub.model.base import utcnow
from hub.services.catalogue import Catalogue
from hub.services.sinks import FINGERPRINT_KEYS, PREPARERS, SINKS, SinkContext, SinkResult
from hub.store.bulk import prepare_bulk
from hub.store.cursors import get_cursor, save_cursor
from hub.store.db import transaction
from hub.store.dead_letters import add_dead_letter
from hub.store.fingerprints import (
    KnownPage,
    digester,
    has_fingerprints,
    known_digests,
    known_page,
    page_digester,
    prune_pages,
    remember,
    remember_page,
    touch_page,
)

DEFAULT_MAX_PAGES = 1000
DAY = timedelta(days=1)


@dataclass
class PullResult:
    connector: str
    stream: str
    cursor_before: str | None
    cursor_after: str | None = None
    pages: int = 0
    records: int = 0
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    dead_letters: int = 0
    #: Of `unchanged`: records skipped unmapped because their fingerprint was known.
    skipped: int = 0


@dataclass(frozen=True)
class Letter:
    """A dead letter to write: the original payload (bytes kept as bytes) and why."""

    payload: bytes | str
    payload_format: str
    field_path: str
    reason: str


@dataclass
class MappedPage:
    page: Page
    records: list[Any] = field(default_factory=list)
    models: list[BaseModel] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    page_error: str | None = None
    #: Fingerprinted streams: the digest of each model's raw record, and how many records
    #: were skipped because their digest was already stored.
    digests: list[str] = field(default_factory=list)
    skipped: int = 0
    #: What the target's sink works out from the models alone (sinks.PREPARERS).
    prepared: Any = None


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return None


def read_page(mapping: Mapping, page: Page) -> MappedPage:
    """Records of one page, not yet mapped; a page that cannot be parsed is one failure."""
    result = MappedPage(page)
    try:
        if page.rows is not None:
            result.records = list(page.rows)
        else:
            source: Literal["xml", "json"] = "xml" if mapping.source == "xml" else "json"
            parsed = parse_page(page.raw or b"", source, _charset(page.content_type))
            result.records = mapping.records(parsed)
    except MappingError as exc:
        result.page_error = exc.reason
    return result


def map_page(mapping: Mapping, page: Page) -> MappedPage:
    """Records of one page, mapped; a page that cannot even be parsed is one failure."""
    result = read_page(mapping, page)
    if result.page_error is None:
        result.models, result.failures = map_records(mapping, result.records)
    return result


def map_unseen(
    mapping: Mapping,
    result: MappedPage,
    digest: Callable[[Any], str],
    known: Callable[[list[str]], set[str]],
    *,
    prepared: bool = False,
) -> MappedPage:
    """Map only the records whose digest is not `known`, keeping each model's digest.

    `prepared`: the records are digested and mapped as Mapping.prepare gives them (an
    XML mapping that reads only children's texts; see hub.store.fingerprints.digester).
    """
    records = result.records
    if prepared:
        records = [_prepared(mapping, record) for record in records]
    digests = [digest(record) for record in records]
    seen = known(digests)
    payload_format = "xml" if mapping.source == "xml" else "json"
    for record, record_digest in zip(records, digests, strict=True):
        if record_digest in seen:
            result.skipped += 1
            continue
        try:
            result.models.append(mapping.to_canonical(record))
        except MappingError as exc:
            result.failures.append(
                Failure(serialise_record(record), payload_format, exc.field_path, exc.reason)
            )
            continue
        result.digests.append(record_digest)
    return result


def _prepared(mapping: Mapping, record: Any) -> Any:
    try:
        return mapping.prepare(record)
    except MappingError:  # not a record at all: mapping it gives the dead letter
        return record


def _cursor_after(
    stream: Stream, read: Callable[[Any], Any] | None, records: list[Any], current: str | None
) -> str | None:
    if read is None or stream.cursor is None:
        return current
    values = [v for v in (read(r) for r in records) if v not in (None, "")]
    if stream.cursor.type == "id":
        numbers = [int(v) for v in values if str(v).lstrip("-").isdigit()]
        best = max(numbers, default=None)
        if best is None:
            return current
        return str(best) if current is None or best > int(current) else current
    texts = [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in values]
    best_text = max(texts, default=None)
    if best_text is None:
        return current
    return best_text if current is None or best_text > current else current


def _later(stream: Stream, current: str | None, other: str | None) -> str | None:
    """The later of two cursor values, compared as _cursor_after compares them."""
    if other is None:
        return current
    if current is None:
        return other
    if stream.cursor is not None and stream.cursor.type == "id":
        both = (current.lstrip("-").isdigit(), other.lstrip("-").isdigit())
        if all(both):
            return other if int(other) > int(current) else current
    return other if other > current else current


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """While a sync runs, the garbage collector leaves the objects that were there before
    it alone (gc.freeze): a sync creates some 20 container objects per record, and each
    full collection they trigger would otherwise walk the whole application heap again
    (about 2 s of a 100,000-matter sync). Cycles made during the sync are still collected;
    afterwards (gc.unfreeze) everything is collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class StreamPuller:
    """One stream of one connector, with its adapter and its mapping."""

    def __init__(
        self,
        engine: Engine,
        config: ConnectorConfig,
        stream_name: str,
        adapter: Adapter,
        mapping: Mapping,
        catalogue: Catalogue,
    ) -> None:
        matches = [s for s in config.streams if s.name == stream_name]
        if not matches:
            raise ValueError(f"连接器 {config.name} 没有数据流 {stream_name!r} (unknown stream)")
        self.stream = matches[0]
        if mapping.target not in SINKS:
            raise ValueError(
                f"映射 {mapping.name} 的目标 {mapping.target!r} 尚不能入库 "
                "(this target has no store yet)"
            )
        self.engine = engine
        self.config = config
        self.adapter = adapter
        self.mapping = mapping
        self.catalogue = catalogue
        cursor = self.stream.cursor
        self._read_cursor = mapping.reader(cursor.field) if cursor else None
        # Catalogue-like targets (matters, cases) skip records stored unchanged before.
        self._key_field = FINGERPRINT_KEYS.get(mapping.target)
        self._prepared = mapping.reads_child_texts_only
        self._digest = (
            digester(mapping.path, mapping.source, child_texts=self._prepared)
            if self._key_field
            else None
        )
        self._page_digest = page_digester(mapping.path) if self._key_field else None
        self._seen_any = True
        # An in-memory SQLite database is one per connection (thread): store in this thread.
        database = engine.url.database
        self._inline = engine.dialect.name == "sqlite" and database in (None, "", ":memory:")

    def preview(self, limit: int) -> MappedPage:
        """The first page after the saved cursor, mapped; nothing is written."""
        with self.engine.connect() as conn:
            cursor = get_cursor(conn, self.config.name, self.stream.name)
        mapped = map_page(self.mapping, self.adapter.fetch_page(self.stream.name, cursor, None))
        mapped.models = mapped.models[:limit]
        return mapped

    def pull(self, max_pages: int = DEFAULT_MAX_PAGES) -> PullResult:
        with self.engine.connect() as conn:
            cursor = get_cursor(conn, self.config.name, self.stream.name)
        result = PullResult(self.config.name, self.stream.name, cursor, cursor)
        # Every page of this run is asked after the cursor the run started from: the source
        # pages that result set. The saved cursor moves per page, so a crash resumes there.
        # Three things happen at once: the next page is fetched, this one is mapped, and
        # the previous one is stored (its own transaction, in a writer thread: the driver
        # releases the GIL while SQLite or PostgreSQL work). Pages are stored one at a time
        # and in order, and nothing else is written while a page is being stored; a store
        # that fails stops the run before any later page is stored.
        since = cursor
        if self._page_digest is not None:
            with transaction(self.engine) as conn:
                prune_pages(conn, self.config.name, self.stream.name, utcnow())
                # Nothing stored yet (a first sync): no digest can be known, none looked up.
                self._seen_any = has_fingerprints(conn, self.config.name, self.stream.name)
        name = self.stream.name
        with (
            _heap_frozen(),
            ThreadPoolExecutor(1, thread_name_prefix=f"pull-{name}") as ahead,
            ThreadPoolExecutor(1, thread_name_prefix=f"store-{name}") as writer,
        ):
            storing: list[Future[None]] = []

            def settle() -> None:
                """Wait for the page being stored (raising its error, if any)."""
                while storing:
                    storing.pop().result()

            upcoming = ahead.submit(self.adapter.fetch_page, name, since, None)
            for number in range(max_pages):
                page = upcoming.result()
                digest, known = self._known_page(page, settle)
                mapped = read_page(self.mapping, page) if known is None else MappedPage(page)
                count = len(mapped.records) if known is None else known.records
                token = page.next_token
                more = token is not None and mapped.page_error is None
                if page.size is not None and count < page.size:
                    more = False
                if more and number + 1 < max_pages:
                    upcoming = ahead.submit(self.adapter.fetch_page, name, since, token)
                if known is not None:
                    settle()
                    cursor = self._skip_page(known, cursor, result)
                else:
                    self._map(mapped)
                    prepare = PREPARERS.get(self.mapping.target)
                    if prepare is not None and mapped.models:
                        mapped.prepared = prepare(mapped.models)
                    page_cursor = _cursor_after(
                        self.stream, self._read_cursor, mapped.records, None
                    )
                    store = partial(self._store, mapped, cursor, page_cursor, result, digest)
                    cursor = _later(self.stream, cursor, page_cursor)
                    settle()
                    if self._inline:
                        store()
                    else:
                        storing.append(writer.submit(store))
                result.pages += 1
                result.cursor_after = cursor
                if not more:
                    break
            settle()
        return result

    def _store(
        self,
        mapped: MappedPage,
        cursor: str | None,
        page_cursor: str | None,
        result: PullResult,
        digest: str | None,
    ) -> None:
        with transaction(self.engine) as conn:
            prepare_bulk(conn)
            self._store_page(conn, mapped, cursor, result, digest, page_cursor)

    def _known_page(
        self, page: Page, settle: Callable[[], None]
    ) -> tuple[str | None, KnownPage | None]:
        """The page's digest, and what was stored from it if these bytes were seen before."""
        if self._page_digest is None or page.raw is None:
            return None, None
        digest = self._page_digest(page.raw)
        with self.engine.connect() as conn:
            known = known_page(conn, self.config.name, self.stream.name, digest)
        now = utcnow()
        if known is not None and known.seen_at is not None and known.seen_at < now - DAY:
            settle()
            with transaction(self.engine) as conn:
                touch_page(conn, self.config.name, self.stream.name, digest, now)
        return digest, known

    def _skip_page(self, known: KnownPage, cursor: str | None, result: PullResult) -> str | None:
        """A page stored completely before: nothing to parse or write but the cursor."""
        new_cursor = _later(self.stream, cursor, known.cursor)
        if new_cursor is not None and new_cursor != cursor:
            with transaction(self.engine) as conn:
                save_cursor(conn, self.config.name, self.stream.name, new_cursor)
        result.records += known.records
        result.unchanged += known.records
        result.skipped += known.records
        return new_cursor

    def _map(self, mapped: MappedPage) -> None:
        """Map the page's records (fingerprinted streams: only those not seen before)."""
        if mapped.page_error is not None or not mapped.records:
            return
        if self._digest is None:
            mapped.models, mapped.failures = map_records(self.mapping, mapped.records)
            return

        def known(digests: list[str]) -> set[str]:
            # Read before the write transaction: a digest is only ever written with its
            # stored record, so one found here can be trusted without holding the lock.
            if not self._seen_any:
                return set()
            with self.engine.connect() as conn:
                return known_digests(conn, self.config.name, self.stream.name, digests)

        map_unseen(self.mapping, mapped, self._digest, known, prepared=self._prepared)

    def _store_page(
        self,
        conn: Connection,
        mapped: MappedPage,
        cursor: str | None,
        result: PullResult,
        page_digest: str | None = None,
        page_cursor: str | None = None,
    ) -> str | None:
        """Store one mapped page in `conn`'s transaction: records, dead letters, the cursor.

        `page_cursor`: the latest cursor value among the page's records, when the caller
        has read it already.
        """
        if page_cursor is None:
            page_cursor = _cursor_after(self.stream, self._read_cursor, mapped.records, None)
        letters = self._dead_letters(mapped)
        stored = SinkResult()
        if mapped.models:
            context = SinkContext(
                self.config.name, self.catalogue, utcnow(), prepared=mapped.prepared
            )
            stored = SINKS[self.mapping.target](conn, mapped.models, context)
            if self._key_field and mapped.digests:
                refused = {index for index, _, _ in stored.rejected}
                remember(
                    conn,
                    self.config.name,
                    self.stream.name,
                    {
                        str(getattr(model, self._key_field)): digest
                        for index, (model, digest) in enumerate(
                            zip(mapped.models, mapped.digests, strict=True)
                        )
                        if index not in refused
                    },
                )
        for index, field_path, reason in stored.rejected:
            payload = mapped.models[index].model_dump_json()
            # Mapped fine, refused by the store: keep the canonical record (replayable as is).
            letters.append(Letter(payload, "canonical", field_path, reason))
        for letter in letters:
            add_dead_letter(
                conn,
                source=self.config.name,
                stream=self.stream.name,
                payload=letter.payload,
                payload_format=letter.payload_format,
                field_path=letter.field_path or None,
                reason=letter.reason,
            )
        new_cursor = _later(self.stream, cursor, page_cursor)
        if new_cursor is not None and new_cursor != cursor:
            save_cursor(conn, self.config.name, self.stream.name, new_cursor)
        if page_digest is not None and not letters and mapped.records:
            # Every record of the page is stored (or was already): the same bytes again
            # need not be read at all.
            remember_page(
                conn,
                self.config.name,
                self.stream.name,
                page_digest,
                KnownPage(len(mapped.records), page_cursor),
                utcnow(),
            )
        result.records += len(mapped.records)
        result.inserted += stored.inserted
        result.changed += stored.changed
        result.unchanged += stored.unchanged + mapped.skipped
        result.skipped += mapped.skipped
        result.dead_letters += len(letters)
        return new_cursor

    def _dead_letters(self, mapped: MappedPage) -> list[Letter]:
        if mapped.page_error is None:
            return [
                Letter(f.payload, f.payload_format, f.field_path, f.reason) for f in mapped.failures
            ]
        # The page itself is unreadable: keep its bytes as they came (base64 if not text).
        return [Letter(mapped.page.raw or b"", self.mapping.source, "", mapped.page_error)]
