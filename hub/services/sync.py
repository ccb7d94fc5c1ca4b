"""Pull a connector's stream into the store: page → records → canonical → sink.

Per page, one transaction holds the stored records, the dead letters of the records that
failed and the new cursor: a crash mid-sync resumes from the last committed page, and a
re-run writes nothing new (sinks deduplicate). Nothing is ever dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Engine

from hub.adapters.base import Adapter, Page
from hub.connectors.models import ConnectorConfig, Stream
from hub.mapping.batch import Failure, map_records
from hub.mapping.engine import Mapping
from hub.mapping.errors import MappingError
from hub.mapping.parsing import parse_page
from hub.model.base import utcnow
from hub.services.catalogue import Catalogue
from hub.services.sinks import SINKS, SinkContext, SinkResult
from hub.store.cursors import get_cursor, save_cursor
from hub.store.db import transaction
from hub.store.dead_letters import add_dead_letter

DEFAULT_MAX_PAGES = 1000


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


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return None


def map_page(mapping: Mapping, page: Page) -> MappedPage:
    """Records of one page, mapped; a page that cannot even be parsed is one failure."""
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
    result.models, result.failures = map_records(mapping, result.records)
    return result


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
        since = cursor
        token: str | None = None
        for _ in range(max_pages):
            page = self.adapter.fetch_page(self.stream.name, since, token)
            mapped = map_page(self.mapping, page)
            with transaction(self.engine) as conn:
                cursor = self._store_page(conn, mapped, cursor, result)
            result.pages += 1
            result.cursor_after = cursor
            token = page.next_token
            if mapped.page_error or token is None:
                break
            if page.size is not None and len(mapped.records) < page.size:
                break
        return result

    def _store_page(
        self, conn: Connection, mapped: MappedPage, cursor: str | None, result: PullResult
    ) -> str | None:
        letters = self._dead_letters(mapped)
        stored = SinkResult()
        if mapped.models:
            context = SinkContext(self.config.name, self.catalogue, utcnow())
            stored = SINKS[self.mapping.target](conn, mapped.models, context)
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
        new_cursor = _cursor_after(self.stream, self._read_cursor, mapped.records, cursor)
        if new_cursor is not None and new_cursor != cursor:
            save_cursor(conn, self.config.name, self.stream.name, new_cursor)
        result.records += len(mapped.records)
        result.inserted += stored.inserted
        result.changed += stored.changed
        result.unchanged += stored.unchanged
        result.dead_letters += len(letters)
        return new_cursor

    def _dead_letters(self, mapped: MappedPage) -> list[Letter]:
        if mapped.page_error is None:
            return [
                Letter(f.payload, f.payload_format, f.field_path, f.reason) for f in mapped.failures
            ]
        # The page itself is unreadable: keep its bytes as they came (base64 if not text).
        return [Letter(mapped.page.raw or b"", self.mapping.source, "", mapped.page_error)]
