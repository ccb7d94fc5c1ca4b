"""SQL adapter (SQLAlchemy) for systems reached only through their database (e.g. Tongda).

Identifiers from config are checked against the REFLECTED schema, values are always bound,
the connection is read-only unless an operation writes, and every statement has a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, NoSuchTableError

from hub.adapters.base import Adapter, Page, Payload, Response, effective_cursor, paging_params
from hub.adapters.errors import AdapterError, SqlRefused, TransportFailed
from hub.adapters.resilience import Resilience
from hub.connectors.models import ConnectorConfig, Stream
from hub.connectors.secrets import Connection as Credentials
from hub.connectors.secrets import resolve_connection

PROGRESS_STEPS = 1000  # SQLite VM instructions between deadline checks


def database_url(config: ConnectorConfig, creds: Credentials | None, writes: bool) -> URL:
    """The configured URL (no password in YAML) completed from the connection; SQLite files
    open through a URI with mode=ro unless the connector writes."""
    url = make_url(config.endpoint.url or "")
    if creds is not None:
        url = url.set(
            username=url.username or creds.login,
            password=creds.password,
            host=url.host or creds.host,
            port=url.port or creds.port,
            database=url.database or creds.schema,
        )
    if url.get_backend_name() == "sqlite" and url.database and not writes:
        path = url.database.removeprefix("file:")
        url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
    return url


def _coerce(table: Table, column: str, value: str) -> Any:
    """Cursor text → the column's Python type, so the bound value compares correctly."""
    try:
        kind = table.c[column].type.python_type
    except NotImplementedError:
        return value
    if kind is int:
        return int(value)
    if kind is datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


class SqlAdapter(Adapter):
    def __init__(
        self,
        config: ConnectorConfig,
        *,
        connection: Credentials | None = None,
        resilience: Resilience | None = None,
    ) -> None:
        super().__init__(config, resilience)
        if connection is None and config.connection:
            connection = resolve_connection(config.connection)
        self.writes = config.writes
        self.timeout = config.timeouts.read
        url = database_url(config, connection, self.writes)
        # SQLite: wait up to the read timeout for a department's writer, set once per
        # pooled connection (the progress handler still bounds each statement).
        options = {"timeout": self.timeout} if url.get_backend_name() == "sqlite" else {}
        self.engine: Engine = create_engine(url, connect_args=options)
        self._tables: dict[str, Table] = {}

    def close(self) -> None:
        self.engine.dispose()

    def table(self, name: str) -> Table:
        """The reflected table; a name that is not a real table is refused."""
        if name not in self._tables:
            inspector = inspect(self.engine)
            if name not in {*inspector.get_table_names(), *inspector.get_view_names()}:
                raise SqlRefused(f"数据库中没有该表 (no such table): {name!r}")
            try:
                self._tables[name] = Table(name, MetaData(), autoload_with=self.engine)
            except NoSuchTableError as exc:
                raise SqlRefused(f"数据库中没有该表 (no such table): {name!r}") from exc
        return self._tables[name]

    def columns(self, table: Table, names: list[str] | Mapping[str, Any]) -> list[str]:
        unknown = [n for n in names if n not in table.c]
        if unknown:
            raise SqlRefused(f"表 {table.name} 没有这些列 (no such columns): {unknown}")
        return list(names)

    @contextmanager
    def _connect(self, write: bool) -> Iterator[Connection]:
        """A transaction with a statement deadline, read-only unless write."""
        if write and not self.writes:
            raise SqlRefused("该连接器为只读 (connector is read-only)")
        with self.engine.connect() as conn:
            backend = self.engine.dialect.name
            if backend == "sqlite":
                raw: Any = conn.connection.driver_connection
                deadline = time.monotonic() + self.timeout
                raw.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
            elif backend == "postgresql":
                conn.exec_driver_sql(f"SET statement_timeout = {int(self.timeout * 1000)}")
                if not write:
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            try:
                yield conn
                conn.commit()
            except DBAPIError as exc:
                raise self._error(exc) from exc
            finally:
                if backend == "sqlite":
                    raw.set_progress_handler(None, 0)

    def _error(self, exc: DBAPIError) -> AdapterError:
        message = str(exc.orig)
        if "interrupted" in message:
            return TransportFailed(
                f"SQL 语句超时 (statement timeout {self.timeout}s)",
                retryable="timeout" in self.config.retry.retry_on.errors,
                unsent=True,  # the interrupted transaction was rolled back
            )
        if "readonly" in message or "read-only" in message:
            return SqlRefused(f"只读连接拒绝写入 (read-only connection refused a write): {message}")
        return AdapterError(f"数据库错误 (database error): {message}")

    def call(self, operation: str, payload: Payload) -> Response:
        op = self.config.operation(operation)
        if not isinstance(payload, Mapping):
            raise SqlRefused("SQL 操作需要字段映射 (SQL operations take mapped fields)")
        row = dict(payload)

        def attempt() -> Response:
            table = self.table(op.table or "")
            self.columns(table, row)
            with self._connect(write=op.write is not None) as conn:
                if op.write == "insert":
                    result = conn.execute(table.insert(), row)  # one statement per table
                    data: Any = {"inserted": list(result.inserted_primary_key or ())}
                elif op.write == "update":
                    keys = {k: row.pop(k) for k in self.columns(table, op.key_columns)}
                    where = [table.c[k] == v for k, v in keys.items()]
                    result = conn.execute(table.update().where(*where).values(**row))
                    data = {"updated": result.rowcount}
                else:
                    where = [table.c[k] == v for k, v in row.items()]
                    data = [dict(r) for r in conn.execute(select(table).where(*where)).mappings()]
            return Response(operation, data=data)

        return self.resilience.run(attempt)

    def _table_query(self, spec: Stream, cursor: Any, limit: int | None, offset: int) -> Any:
        table = self.table(spec.table or "")
        names = self.columns(table, spec.columns or [c.name for c in table.c])
        query = select(*(table.c[n] for n in names))
        if spec.cursor is not None:
            col = table.c[self.columns(table, [spec.cursor.field])[0]]
            if cursor is not None:
                query = query.where(col > _coerce(table, col.name, cursor))
            query = query.order_by(col)
        return query.limit(limit).offset(offset) if limit else query

    def fetch_page(self, stream: str, cursor: str | None, page_token: str | None) -> Page:
        spec = self.config.stream(stream)
        since = effective_cursor(spec, cursor)
        paged, size = paging_params(spec, page_token)
        offset = int(page_token) if page_token and spec.paging else 0
        if spec.paging is not None and spec.paging.kind == "page":
            offset = (int(page_token or spec.paging.start) - spec.paging.start) * (size or 0)

        def attempt() -> Page:
            if spec.query:
                bound = {**spec.params, "cursor": since, "limit": size or -1, "offset": offset}
                query: Any = text(spec.query)
                names = set(query.compile().params)
                query = query.bindparams(**{k: v for k, v in bound.items() if k in names})
            else:
                query = self._table_query(spec, since, size, offset)
            with self._connect(write=False) as conn:
                rows = [dict(r) for r in conn.execute(query).mappings()]
            full = size is not None and len(rows) == size
            token = None
            if full and spec.paging is not None:
                page = int(page_token or spec.paging.start)
                token = str(page + 1) if spec.paging.kind == "page" else str(offset + len(rows))
            return Page(stream, rows=rows, next_token=token, size=size, request=paged)

        return self.resilience.run(attempt)
