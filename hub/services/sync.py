"""Pull a connector's stream into the store: page → records → canonical → sink.

One transaction holds a page's stored records, the dead letters of the records that
failed and the new cursor: a crash mid-sync resumes from the last committed page, and a
re-run writes nothing new (sinks deduplicate). Nothing is ever dropped silently. When the
store lags behind the mapping, the pages already waiting (up to GROUP_PAGES) share one
transaction and one sink call: fewer statements and commits, the same guarantees.
"""

from __future__ import annotations

import gc
from bisect import bisect_right
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import accumulate
from queue import Empty, Queue
from threading import Lock, Thread
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
    remember_pages,
    touch_page,
)

DEFAULT_MAX_PAGES = 1000
DAY = timedelta(days=1)
#: At most this many mapped pages wait for the writer, and it stores at most this many
#: (and no more once it holds GROUP_RECORDS records) in one transaction.
GROUP_PAGES = 4
GROUP_RECORDS = 4_000


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
    #: What the target's sink works out from the models alone, one item per model
    #: (sinks.PREPARERS).
    prepared: list[Any] | None = None


@dataclass(frozen=True)
class PendingPage:
    """A mapped page handed to the writer: the cursor before it, the latest cursor value
    among its records, and its digest (fingerprinted streams)."""

    mapped: MappedPage
    cursor: str | None
    page_cursor: str | None
    digest: str | None = None

    @property
    def size(self) -> int:
        return len(self.mapped.records)


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
        # kept prepared: the stream's cursor column is then read from the texts found
        records = result.records = [_prepared(mapping, record) for record in records]
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


#: While a sync runs, the collector's youngest generation is examined only once this many
#: more tracked objects (allocated less freed) are alive, instead of Python's 700.
SYNC_GC_THRESHOLD = 500_000
_gc_lock = Lock()
_gc_syncs = 0  # syncs running in this process
_gc_threshold: tuple[int, int, int] = (700, 10, 10)  # what was set before the first of them


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """While a sync runs, the garbage collector leaves the objects that were there before
    it alone (gc.freeze), and waits for SYNC_GC_THRESHOLD new objects instead of 700.

    A sync creates some 20 container objects per record that live until their page is
    stored (a few pages at a time: some 200,000 objects) and are then freed by reference
    counting. With the usual threshold the collector ran some 3,000 times in a
    100,000-matter sync, walking the pages in flight each time (and, every few hundred
    runs, the whole heap): 4-6 s of the 20 s, with the GIL held. The count that triggers
    it is objects allocated less objects freed, so with the higher threshold it runs only
    when that many objects outlive their page: garbage cycles made during the sync (a few
    thousand objects in a whole catalogue) are still collected once they add up, and
    afterwards (gc.unfreeze, the threshold as it was) everything is collected as usual.
    Syncs running at once in one process share this: the last to finish restores it."""
    global _gc_syncs, _gc_threshold
    with _gc_lock:
        gc.freeze()
        if _gc_syncs == 0:
            _gc_threshold = gc.get_threshold()
            first, *older = _gc_threshold
            gc.set_threshold(max(first, SYNC_GC_THRESHOLD), *older)
        _gc_syncs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_syncs -= 1
            if _gc_syncs == 0:
                gc.set_threshold(*_gc_threshold)
                gc.unfreeze()


class PageWriter:
    """Stores the pages a pull hands over, in order, in a thread of its own (the driver
    releases the GIL while SQLite or PostgreSQL work, so the next pages are mapped
    meanwhile), or at once in the caller's thread (`inline`).

    The writer takes every page already waiting, up to GROUP_PAGES pages or GROUP_RECORDS
    records, and stores them together: when the store lags, its statements, commits and
    waits for the GIL drop with the size of the group. A store that fails stores nothing
    after it: put() and settle() raise its error, and the cursor stays at the last commit.
    """

    def __init__(self, store: Callable[[list[PendingPage]], None], name: str, *, inline: bool):
        self._store = store
        self._queue: Queue[PendingPage | None] = Queue(GROUP_PAGES)
        self._error: BaseException | None = None
        self._thread = None if inline else Thread(target=self._run, name=name, daemon=True)
        if self._thread is not None:
            self._thread.start()

    def put(self, page: PendingPage) -> None:
        """Hand a page over (waits while GROUP_PAGES pages are waiting already)."""
        self._raise()
        if self._thread is None:
            self._store([page])
        else:
            self._queue.put(page)

    def settle(self) -> None:
        """Wait until every page handed over is stored (raising a failed store's error)."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Store what is waiting, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        closing = False
        while not closing:
            group, closing = self._take()
            try:
                if group and self._error is None:
                    self._store(group)
            except BaseException as exc:  # handed to the pulling thread; later pages skipped
                self._error = exc
            finally:
                for _ in range(len(group) + closing):
                    self._queue.task_done()

    def _take(self) -> tuple[list[PendingPage], bool]:
        """The next page (waiting for it) and those waiting behind it; True: closing."""
        first = self._queue.get()
        if first is None:
            return [], True
        group, records = [first], first.size
        while len(group) < GROUP_PAGES and records < GROUP_RECORDS:
            try:
                page = self._queue.get_nowait()
            except Empty:
                break
            if page is None:
                return group, True
            group.append(page)
            records += page.size
        return group, False


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
        # pages that result set. The saved cursor moves with each stored page, so a crash
        # resumes there. Three things happen at once: the next page is fetched, this one is
        # mapped, and those before it are stored (PageWriter). Pages are stored in order,
        # and nothing else is written while pages are being stored; a store that fails
        # stops the run before any later page is stored.
        since = cursor
        if self._page_digest is not None:
            with transaction(self.engine) as conn:
                prune_pages(conn, self.config.name, self.stream.name, utcnow())
                # Nothing stored yet (a first sync): no digest can be known, none looked up.
                self._seen_any = has_fingerprints(conn, self.config.name, self.stream.name)
        name = self.stream.name
        writer = PageWriter(
            lambda group: self._store(group, result), f"store-{name}", inline=self._inline
        )
        with (
            _heap_frozen(),
            ThreadPoolExecutor(1, thread_name_prefix=f"pull-{name}") as ahead,
        ):
            try:
                upcoming = ahead.submit(self.adapter.fetch_page, name, since, None)
                for number in range(max_pages):
                    page = upcoming.result()
                    digest, known = self._known_page(page, writer.settle)
                    mapped = read_page(self.mapping, page) if known is None else MappedPage(page)
                    count = len(mapped.records) if known is None else known.records
                    token = page.next_token
                    more = token is not None and mapped.page_error is None
                    if page.size is not None and count < page.size:
                        more = False
                    if more and number + 1 < max_pages:
                        upcoming = ahead.submit(self.adapter.fetch_page, name, since, token)
                    if known is not None:
                        writer.settle()
                        cursor = self._skip_page(known, cursor, result)
                    else:
                        cursor = self._hand_over(mapped, cursor, digest, writer)
                    result.pages += 1
                    result.cursor_after = cursor
                    if not more:
                        break
                writer.settle()
            finally:
                writer.close()
        return result

    def _hand_over(
        self, mapped: MappedPage, cursor: str | None, digest: str | None, writer: PageWriter
    ) -> str | None:
        """Map the page and hand it to the writer; returns the cursor after it."""
        self._map(mapped)
        prepare = PREPARERS.get(self.mapping.target)
        if prepare is not None and mapped.models:
            mapped.prepared = prepare(mapped.models)
        page_cursor = _cursor_after(self.stream, self._read_cursor, mapped.records, None)
        writer.put(PendingPage(mapped, cursor, page_cursor, digest))
        return _later(self.stream, cursor, page_cursor)

    def _store(self, group: list[PendingPage], result: PullResult) -> None:
        """Store these pages in one transaction."""
        with transaction(self.engine) as conn:
            prepare_bulk(conn)
            self._store_pages(conn, group, result)

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

    def _store_pages(self, conn: Connection, group: list[PendingPage], result: PullResult) -> None:
        """Store pages in `conn`'s transaction: their records (one sink call), each page's
        dead letters, the pages stored whole, and the cursor after the last page."""
        models = [model for pending in group for model in pending.mapped.models]
        stored = self._sink(conn, group, models) if models else SinkResult()
        letters = self._letters(group, models, stored.rejected)
        for letter in (letter for page_letters in letters for letter in page_letters):
            add_dead_letter(
                conn,
                source=self.config.name,
                stream=self.stream.name,
                payload=letter.payload,
                payload_format=letter.payload_format,
                field_path=letter.field_path or None,
                reason=letter.reason,
            )
        # A page none of whose records failed is stored whole: the same bytes again need
        # not be read at all.
        whole = {
            pending.digest: KnownPage(pending.size, pending.page_cursor)
            for pending, page_letters in zip(group, letters, strict=True)
            if pending.digest is not None and not page_letters and pending.size
        }
        remember_pages(conn, self.config.name, self.stream.name, whole, utcnow())
        cursor = group[0].cursor
        new_cursor = cursor
        for pending in group:
            new_cursor = _later(self.stream, new_cursor, pending.page_cursor)
        if new_cursor is not None and new_cursor != cursor:
            save_cursor(conn, self.config.name, self.stream.name, new_cursor)
        skipped = sum(pending.mapped.skipped for pending in group)
        result.records += sum(pending.size for pending in group)
        result.inserted += stored.inserted
        result.changed += stored.changed
        result.unchanged += stored.unchanged + skipped
        result.skipped += skipped
        result.dead_letters += sum(len(page_letters) for page_letters in letters)

    def _sink(
        self, conn: Connection, group: list[PendingPage], models: list[BaseModel]
    ) -> SinkResult:
        """The pages' models through the target's sink, and the digests of those it took."""
        preparations = [pending.mapped.prepared for pending in group if pending.mapped.models]
        prepared = (
            None
            if any(p is None for p in preparations)
            else [item for p in preparations if p is not None for item in p]
        )
        context = SinkContext(self.config.name, self.catalogue, utcnow(), prepared=prepared)
        stored = SINKS[self.mapping.target](conn, models, context)
        digests = [digest for pending in group for digest in pending.mapped.digests]
        if self._key_field and digests:
            refused = {index for index, _, _ in stored.rejected}
            remember(
                conn,
                self.config.name,
                self.stream.name,
                {
                    str(getattr(model, self._key_field)): digest
                    for index, (model, digest) in enumerate(zip(models, digests, strict=True))
                    if index not in refused
                },
            )
        return stored

    def _letters(
        self,
        group: list[PendingPage],
        models: list[BaseModel],
        rejected: list[tuple[int, str, str]],
    ) -> list[list[Letter]]:
        """Each page's dead letters: its records that failed, then those the store refused."""
        letters = [self._dead_letters(pending.mapped) for pending in group]
        starts = list(accumulate((len(p.mapped.models) for p in group[:-1]), initial=0))
        for index, field_path, reason in rejected:
            # Mapped fine, refused by the store: keep the canonical record (replayable).
            payload = models[index].model_dump_json()
            page = bisect_right(starts, index) - 1
            letters[page].append(Letter(payload, "canonical", field_path, reason))
        return letters

    def _dead_letters(self, mapped: MappedPage) -> list[Letter]:
        if mapped.page_error is None:
            return [
                Letter(f.payload, f.payload_format, f.field_path, f.reason) for f in mapped.failures
            ]
        # The page itself is unreadable: keep its bytes as they came (base64 if not text).
        return [Letter(mapped.page.raw or b"", self.mapping.source, "", mapped.page_error)]
