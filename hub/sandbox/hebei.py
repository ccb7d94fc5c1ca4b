"""Hebei Government Service Network (河北政务服务网) exchange service over SOAP.

Serves the district's service-matter list and its cases (办件) with the national exchange
column names, paged (``pageNo``/``pageSize``) and incremental by change time: rows with
``cd_time > since`` — or, with ``sinceCode``, ``(cd_time, code) > (since, sinceCode)``, a
keyset cursor that never skips rows sharing a second — ordered by cd_time then code.
A change writes a new ``task_version`` and ``cd_time``; deletions stay visible as
``cd_operation = 'D'`` so an incremental sync sees them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Response
from lxml import etree
from pydantic import BaseModel, Field

from hub.sandbox.hebei_seed import MATTER_COLUMNS, generate_matters
from hub.sandbox.soap import (
    SOAP_ENV,
    XML_TYPE,
    Handler,
    Reader,
    SoapFault,
    SoapSystem,
    fault_envelope,
    parse_operation,
)
from hub.sandbox.storage import TIME_FORMAT, format_time, now_local
from hub.sandbox.wsdl import Operation

NS = "http://zwfw.hebei.gov.cn/exchange"
MAX_PAGE_SIZE = 1000
INT_COLUMNS = {"anticipate_day", "promise_day", "limit_scene_num", "task_version", "visits"}

CASE_COLUMNS = (
    "project_no", "task_code", "task_version", "task_name", "applicant", "apply_date",
    "accept_date", "promise_date", "result_type", "result_date", "satisfaction", "visits",
    "cd_operation", "cd_time",
)  # fmt: skip


def _xsd_sequence(name: str, columns: tuple[str, ...]) -> str:
    fields = "".join(
        f'<xsd:element name="{c}" type="xsd:{"int" if c in INT_COLUMNS else "string"}"'
        ' minOccurs="0" nillable="true"/>'
        for c in columns
    )
    return f'<xsd:complexType name="{name}"><xsd:sequence>{fields}</xsd:sequence></xsd:complexType>'


def _xsd_page(name: str, item: str, list_name: str) -> str:
    return (
        f'<xsd:complexType name="ArrayOf{item}"><xsd:sequence><xsd:element name="{item}"'
        f' type="tns:{item}" minOccurs="0" maxOccurs="unbounded"/></xsd:sequence>'
        f'</xsd:complexType><xsd:complexType name="{name}"><xsd:sequence>'
        '<xsd:element name="total" type="xsd:int"/><xsd:element name="pageNo" type="xsd:int"/>'
        '<xsd:element name="pageSize" type="xsd:int"/>'
        f'<xsd:element name="{list_name}" type="tns:ArrayOf{item}"/>'
        "</xsd:sequence></xsd:complexType>"
    )


TYPES_XSD = "\n".join(
    (
        _xsd_sequence("TaskInfo", MATTER_COLUMNS),
        _xsd_sequence("ProjectInfo", CASE_COLUMNS),
        _xsd_page("TaskPage", "TaskInfo", "tasks"),
        _xsd_page("ProjectPage", "ProjectInfo", "projects"),
    )
)

_PAGE_PARAMS = (
    ("since", "xsd:string", True),
    ("sinceCode", "xsd:string", True),
    ("pageNo", "xsd:int", False),
    ("pageSize", "xsd:int", False),
)
OPERATIONS = (
    Operation("queryTasks", _PAGE_PARAMS, "tns:TaskPage", "事项增量分页查询 (matters)"),
    Operation("getTask", (("taskCode", "xsd:string", False),), "tns:TaskInfo", "单个事项"),
    Operation("queryProjects", _PAGE_PARAMS, "tns:ProjectPage", "办件增量分页查询 (cases)"),
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS task (
    {", ".join(f"{c} {'INTEGER' if c in INT_COLUMNS else 'TEXT'}" for c in MATTER_COLUMNS)},
    PRIMARY KEY (task_code)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_task_cd_time ON task (cd_time, task_code);
CREATE TABLE IF NOT EXISTS project (
    {", ".join(f"{c} {'INTEGER' if c in INT_COLUMNS else 'TEXT'}" for c in CASE_COLUMNS)},
    PRIMARY KEY (project_no)
);
CREATE INDEX IF NOT EXISTS ix_project_cd_time ON project (cd_time, project_no);
"""


#: Characters XML 1.0 cannot carry at all (control characters): dropped from page text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _text(value: Any) -> str:
    if isinstance(value, str):
        if _SPECIAL.search(value) is None:  # nearly always: no copy, no translation
            return value
        return _NOT_XML.sub("", value).translate(_ESCAPES)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _envelope(operation: str, out: dict[str, Any], list_name: str, rows: str | bytes) -> bytes:
    head = "".join(
        (
            "<?xml version='1.0' encoding='UTF-8'?>\n",
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>',
            f'<ns1:{operation}Response xmlns:ns1="{NS}"><ns1:out>',
            f"<ns1:total>{out['total']}</ns1:total><ns1:pageNo>{out['pageNo']}</ns1:pageNo>",
            f"<ns1:pageSize>{out['pageSize']}</ns1:pageSize><ns1:{list_name}>",
        )
    ).encode()
    tail = (
        f"</ns1:{list_name}></ns1:out></ns1:{operation}Response></soap:Body></soap:Envelope>"
    ).encode()
    return b"".join((head, rows if isinstance(rows, bytes) else rows.encode(), tail))


def _template(columns: tuple[str, ...], item: str) -> str:
    fields = "".join(f"<ns1:{c}>{{}}</ns1:{c}>" for c in columns)
    return f"<ns1:{item}>{fields}</ns1:{item}>"


#: Paged operations → (table, key, columns, list element, item element, row template).
PAGED = {
    "queryTasks": (
        "task", "task_code", MATTER_COLUMNS, "tasks", "TaskInfo",
        _template(MATTER_COLUMNS, "TaskInfo"),
    ),
    "queryProjects": (
        "project", "project_no", CASE_COLUMNS, "projects", "ProjectInfo",
        _template(CASE_COLUMNS, "ProjectInfo"),
    ),
}  # fmt: skip


def row_xml(columns: tuple[str, ...], item: str, template: str, row: tuple[Any, ...]) -> str:
    """One row as XML: a template fill when no value is missing or needs escaping (the
    usual case), else the careful way per value (escaped; missing values left out)."""
    if None not in row and _SPECIAL.search("".join(map(str, row))) is None:
        return template.format(*row)
    fields = "".join(
        f"<ns1:{c}>{_text(v)}</ns1:{c}>" for c, v in zip(columns, row, strict=True) if v is not None
    )
    return f"<ns1:{item}>{fields}</ns1:{item}>"


def rows_xml(
    columns: tuple[str, ...], item: str, template: str, rows: list[tuple[Any, ...]]
) -> str:
    """The page's rows as XML (see row_xml)."""
    return "".join(row_xml(columns, item, template, row) for row in rows)


#: Rendered rows kept by the sandbox (about 1 KB each) before the cache starts afresh.
MAX_FRAGMENTS = 250_000


def add_working_days(start: datetime, days: int) -> datetime:
    """Weekends skipped; public holidays are the hub calendar's business, not the network's."""
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


class MatterChange(BaseModel):
    """Fields a department changes in its matter list (any matter column but the keys)."""

    task_name: str | None = None
    anticipate_day: int | None = Field(default=None, ge=0)
    promise_day: int | None = Field(default=None, ge=0)
    limit_scene_num: int | None = Field(default=None, ge=0)
    is_online: str | None = None
    online_handle_url: str | None = None
    project_type: str | None = None
    task_state: str | None = None
    dept_name: str | None = None


class NewMatter(MatterChange):
    task_code: str = Field(min_length=1, max_length=24)
    catalog_code: str = Field(min_length=1, max_length=10)
    task_name: str
    task_type: str = "01"
    dept_code: str
    dept_name: str
    use_level: str = "4"
    town_code: str = ""
    village_code: str = ""


class NewCase(BaseModel):
    """A case to add; times default to now, the promise date to the matter's promise."""

    task_code: str
    project_no: str | None = None
    applicant: str = "石家庄某某食品有限公司"
    apply_date: str | None = None
    accept_date: str | None = None
    visits: int = Field(default=1, ge=0)


class CaseChange(BaseModel):
    """Completion and evaluation of a case (result_type 1 准予 / 2 不予; satisfaction 1–5)."""

    result_type: str | None = None
    result_date: str | None = None
    satisfaction: str | None = None
    visits: int | None = Field(default=None, ge=0)


class SeedRequest(BaseModel):
    matters: int = Field(ge=0, le=1_000_000)
    seed: int = 20250101


@dataclass(frozen=True)
class _PageQuery:
    """A paged query's parameters: rows with (cd_time, key) after the cursor, in that order."""

    table: str
    key: str
    where: str
    args: list[str]
    page_no: int
    page_size: int

    @classmethod
    def read(cls, params: Reader, table: str, key: str) -> _PageQuery:
        since, since_code = params.text("since"), params.text("sinceCode")
        page_no, page_size = params.integer("pageNo", 1), params.integer("pageSize", 100)
        if page_no < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise SoapFault(f"分页参数无效 (pageNo ≥ 1, 1 ≤ pageSize ≤ {MAX_PAGE_SIZE})")
        if since_code:
            return cls(
                table, key, f"(cd_time, {key}) > (?, ?)", [since, since_code], page_no, page_size
            )
        return cls(table, key, "cd_time > ?", [since], page_no, page_size)

    def end_key(self, page_no: int | None = None) -> tuple[Any, ...]:
        """Identifies where page `page_no` (default: this one) of this query ends."""
        number = self.page_no if page_no is None else page_no
        return (self.table, self.where, tuple(self.args), self.page_size, number)

    def rows_sql(self, columns: tuple[str, ...]) -> str:
        # Deferred join: the OFFSET walks the (cd_time, key) index alone, and only the page's
        # rows are read from the table (page 100 of 100,000: 25 ms instead of 160 ms).
        t, k = self.table, self.key
        return (
            f"SELECT {', '.join(columns)} FROM {t} WHERE {k} IN"  # noqa: S608
            f" (SELECT {k} FROM {t} WHERE {self.where} ORDER BY cd_time, {k}"
            f" LIMIT ? OFFSET ?) ORDER BY cd_time, {k}"
        )


class HebeiSystem(SoapSystem):
    """The provincial network's exchange service as seen from the district."""

    name = "hebei"
    title = "河北政务服务网（事项与办件交换）"
    namespace = NS
    service_name = "ExchangeService"
    service_path = "/services/ExchangeService"
    entry = "/services/ExchangeService?wsdl"
    types_xsd = TYPES_XSD
    operations = OPERATIONS
    schema = SCHEMA
    tables = ("task", "project")

    # Page totals (COUNT(*) over every row after the cursor) are asked once per page; they
    # only change when something is written, so they are kept until the next write.
    _totals: dict[tuple[str, str, tuple[str, ...]], int]
    _generation = 0
    # Paged replies are served from rows rendered once (table, key → UTF-8 XML), and page
    # N + 1 of a query continues from the last key of page N instead of walking an OFFSET.
    # Both are kept only while the database is unchanged: any write, by any path or
    # connection, changes the token (total_changes(), data_version) and drops them.
    _fragments: dict[tuple[str, str], bytes]
    _page_ends: dict[tuple[Any, ...], tuple[str, str]]
    _token: tuple[int, int] | None = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            with self.store.transaction() as conn:
                yield conn
        finally:
            self._forget()

    def on_reset(self) -> None:
        self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._totals = {}
        self._fragments = {}
        self._page_ends = {}
        self._token = None

    def _data_token(self) -> tuple[int, int]:
        changes = int(self.store.scalar("SELECT total_changes()"))
        return changes, int(self.store.scalar("PRAGMA data_version"))

    def _total(self, table: str, where: str, args: list[str]) -> int:
        key = (table, where, tuple(args))
        totals = getattr(self, "_totals", {})
        if key in totals:
            return totals[key]
        generation = self._generation
        total = int(self.store.scalar(f"SELECT COUNT(*) FROM {table} WHERE {where}", args))  # noqa: S608
        if generation == self._generation:  # no write since: safe to keep
            totals[key] = total
            self._totals = totals
        return total

    def handlers(self) -> dict[str, Handler]:
        return {
            "queryTasks": lambda params: self._page(params, "task", "task_code", "tasks"),
            "queryProjects": lambda params: self._page(params, "project", "project_no", "projects"),
            "getTask": self._get_task,
        }

    def add_control_routes(self, router: APIRouter) -> None:
        router.add_api_route("/seed", self.seed_endpoint, methods=["POST"])
        router.add_api_route("/matters", self.add_matter, methods=["POST"])
        router.add_api_route("/matters/{task_code}", self.matter, methods=["GET"])
        router.add_api_route("/matters/{task_code}", self.change_matter, methods=["PATCH"])
        router.add_api_route("/matters/{task_code}/suspend", self.suspend, methods=["POST"])
        router.add_api_route("/matters/{task_code}", self.delete_matter, methods=["DELETE"])
        router.add_api_route("/cases", self.add_case, methods=["POST"])
        router.add_api_route("/cases/{project_no}", self.case, methods=["GET"])
        router.add_api_route("/cases/{project_no}", self.change_case, methods=["PATCH"])

    # --- SOAP operations ------------------------------------------------------------------

    def dispatch(self, body: bytes) -> Response:
        """Paged queries are written from rows rendered once by templates (a 100,000-matter
        sync then measures the hub, not this sandbox's serialiser); the rest the generic
        way. The document is the one the generic lxml writer builds (tested)."""
        try:
            operation = parse_operation(body)
        except SoapFault:
            return super().dispatch(body)
        name = etree.QName(operation).localname
        if name not in PAGED or etree.QName(operation).namespace != self.namespace:
            return super().dispatch(body)
        table, key, columns, list_name, item, template = PAGED[name]
        try:
            query = _PageQuery.read(Reader(operation, self.namespace), table, key)
            out = {
                "total": self._total(table, query.where, query.args),
                "pageNo": query.page_no,
                "pageSize": query.page_size,
            }
            rows = self._page_xml(query, columns, item, template)
        except SoapFault as fault:
            return Response(fault_envelope(fault), 500, media_type=XML_TYPE)
        return Response(_envelope(name, out, list_name, rows), media_type=XML_TYPE)

    def _page_xml(
        self, query: _PageQuery, columns: tuple[str, ...], item: str, template: str
    ) -> bytes:
        """The page's rows as XML, from rendered rows while the database is unchanged."""
        for _ in range(3):
            token = self._data_token()
            if token != self._token:
                self._forget()
                self._token = token
            fragments, ends = self._fragments, self._page_ends
            keys = self._page_keys(query, ends)
            missing = [k for _, k in keys if (query.table, k) not in fragments]
            rendered = dict(
                zip(missing, self._render(query, columns, item, template, missing), strict=True)
            )
            if self._data_token() != token:  # written meanwhile: read the page again
                continue
            if len(fragments) + len(rendered) > MAX_FRAGMENTS:
                fragments.clear()
            for code, xml in rendered.items():
                fragments[query.table, code] = xml
            if len(keys) == query.page_size:
                if len(ends) > MAX_FRAGMENTS // 100:
                    ends.clear()
                ends[query.end_key()] = keys[-1]
            return b"".join(
                rendered[k] if k in rendered else fragments[query.table, k] for _, k in keys
            )
        # Written to all the time: the plain way, one statement.
        params = [*query.args, query.page_size, (query.page_no - 1) * query.page_size]
        rows = self.store.tuples(query.rows_sql(columns), params)
        return rows_xml(columns, item, template, rows).encode()

    def _page_keys(
        self, query: _PageQuery, ends: dict[tuple[Any, ...], tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """(cd_time, key) of the page's rows, in order: from the index alone, continuing
        after the previous page's last row when that page was served since the last write."""
        before = ends.get(query.end_key(query.page_no - 1))
        t, k = query.table, query.key
        if before is not None:
            # Every row after a row of the query is one of the query's rows (both conditions
            # are "after" in the same order), so the keyset condition alone is the seek.
            sql = (
                f"SELECT cd_time, {k} FROM {t} WHERE (cd_time, {k}) > (?, ?)"  # noqa: S608
                f" ORDER BY cd_time, {k} LIMIT ?"
            )
            params: list[Any] = [*before, query.page_size]
        else:
            sql = (
                f"SELECT cd_time, {k} FROM {t} WHERE {query.where}"  # noqa: S608
                f" ORDER BY cd_time, {k} LIMIT ? OFFSET ?"
            )
            params = [*query.args, query.page_size, (query.page_no - 1) * query.page_size]
        return [(row[0], row[1]) for row in self.store.tuples(sql, params)]

    def _render(
        self,
        query: _PageQuery,
        columns: tuple[str, ...],
        item: str,
        template: str,
        codes: list[str],
    ) -> list[bytes]:
        found: dict[str, bytes] = {}
        position = columns.index(query.key)
        for start in range(0, len(codes), 500):
            chunk = codes[start : start + 500]
            sql = (
                f"SELECT {', '.join(columns)} FROM {query.table}"  # noqa: S608
                f" WHERE {query.key} IN ({', '.join('?' for _ in chunk)})"
            )
            for row in self.store.tuples(sql, chunk):
                found[row[position]] = row_xml(columns, item, template, row).encode()
        # A row gone meanwhile renders as nothing; the token check then reads the page again.
        return [found.get(code, b"") for code in codes]

    def _page(
        self, params: Reader, table: str, key: str, list_name: str, *, tuples: bool = False
    ) -> dict[str, Any]:
        query = _PageQuery.read(params, table, key)
        total = self._total(table, query.where, query.args)
        columns = MATTER_COLUMNS if table == "task" else CASE_COLUMNS
        values = [*query.args, query.page_size, (query.page_no - 1) * query.page_size]
        sql = query.rows_sql(columns)
        items: list[Any] = (
            self.store.tuples(sql, values) if tuples else self.store.rows(sql, values)
        )
        item_tag = "TaskInfo" if table == "task" else "ProjectInfo"
        return {
            "total": total,
            "pageNo": query.page_no,
            "pageSize": query.page_size,
            list_name: {item_tag: items},
        }

    def _get_task(self, params: Reader) -> dict[str, Any]:
        row = self.store.row("SELECT * FROM task WHERE task_code = ?", (params.text("taskCode"),))
        if row is None:
            raise SoapFault("事项不存在 (no such matter)")
        return {c: row[c] for c in MATTER_COLUMNS}

    # --- seeding --------------------------------------------------------------------------

    def seed(self, count: int, seed: int = 20250101) -> float:
        """Replace the matter list with ``count`` generated matters; returns seconds taken."""
        started = datetime.now()
        placeholders = ", ".join("?" for _ in MATTER_COLUMNS)
        sql = f"INSERT INTO task ({', '.join(MATTER_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
        with self._write() as conn:
            conn.execute("DELETE FROM task")
            conn.executemany(
                sql, (tuple(m[c] for c in MATTER_COLUMNS) for m in generate_matters(count, seed))
            )
        return (datetime.now() - started).total_seconds()

    def seed_endpoint(self, body: SeedRequest) -> dict[str, Any]:
        seconds = self.seed(body.matters, body.seed)
        return {"matters": body.matters, "seconds": round(seconds, 3)}

    # --- matters --------------------------------------------------------------------------

    def matter(self, task_code: str) -> dict[str, Any]:
        row = self.store.row("SELECT * FROM task WHERE task_code = ?", (task_code,))
        if row is None:
            raise HTTPException(404, "事项不存在 (no such matter)")
        return row

    def add_matter(self, body: NewMatter) -> dict[str, Any]:
        values: dict[str, Any] = dict.fromkeys(MATTER_COLUMNS)
        values.update({k: v for k, v in body.model_dump().items() if v is not None and k in values})
        values.update(task_state=body.task_state or "1", task_version=1, cd_operation="I")
        values["cd_time"] = format_time(now_local())
        names = ", ".join(values)
        try:
            with self._write() as conn:
                conn.execute(
                    f"INSERT INTO task ({names}) VALUES ({', '.join('?' for _ in values)})",  # noqa: S608
                    list(values.values()),
                )
        except sqlite3.IntegrityError as exc:
            raise HTTPException(409, "事项编码已存在 (task_code exists)") from exc
        return self.matter(body.task_code)

    def _update_matter(
        self, task_code: str, changes: dict[str, Any], operation: str
    ) -> dict[str, Any]:
        """Every change is a new version with a new change time."""
        self.matter(task_code)
        assignments = "".join(f"{column} = ?, " for column in changes)
        with self._write() as conn:
            conn.execute(
                f"UPDATE task SET {assignments}task_version = task_version + 1,"  # noqa: S608
                " cd_operation = ?, cd_time = ? WHERE task_code = ?",
                [*changes.values(), operation, format_time(now_local()), task_code],
            )
        return self.matter(task_code)

    def change_matter(self, task_code: str, body: MatterChange) -> dict[str, Any]:
        return self._update_matter(task_code, body.model_dump(exclude_none=True), "U")

    def suspend(self, task_code: str) -> dict[str, Any]:
        return self._update_matter(task_code, {"task_state": "2"}, "U")

    def delete_matter(self, task_code: str) -> dict[str, Any]:
        return self._update_matter(task_code, {"task_state": "3"}, "D")

    # --- cases ----------------------------------------------------------------------------

    def case(self, project_no: str) -> dict[str, Any]:
        row = self.store.row("SELECT * FROM project WHERE project_no = ?", (project_no,))
        if row is None:
            raise HTTPException(404, "办件不存在 (no such case)")
        return row

    def add_case(self, body: NewCase) -> dict[str, Any]:
        """Accept an application against the matter's *current* version and promise."""
        matter = self.matter(body.task_code)
        now = now_local()
        accept = datetime.strptime(body.accept_date, TIME_FORMAT) if body.accept_date else now
        count = self.store.scalar("SELECT COUNT(*) FROM project")
        project_no = body.project_no or f"{now:%Y%m%d}{matter['task_code'][-6:]}{count + 1:06d}"
        values = {
            "project_no": project_no,
            "task_code": body.task_code,
            "task_version": matter["task_version"],
            "task_name": matter["task_name"],
            "applicant": body.applicant,
            "apply_date": body.apply_date or format_time(accept),
            "accept_date": format_time(accept),
            "promise_date": format_time(add_working_days(accept, matter["promise_day"] or 0)),
            "result_type": "",
            "result_date": "",
            "satisfaction": "",
            "visits": body.visits,
            "cd_operation": "I",
            "cd_time": format_time(now),
        }
        try:
            with self._write() as conn:
                conn.execute(
                    f"INSERT INTO project ({', '.join(values)})"  # noqa: S608
                    f" VALUES ({', '.join('?' for _ in values)})",
                    list(values.values()),
                )
        except sqlite3.IntegrityError as exc:
            raise HTTPException(409, "办件编号已存在 (project_no exists)") from exc
        return self.case(project_no)

    def change_case(self, project_no: str, body: CaseChange) -> dict[str, Any]:
        self.case(project_no)
        changes = body.model_dump(exclude_none=True)
        if "result_type" in changes and "result_date" not in changes:
            changes["result_date"] = format_time(now_local())
        assignments = "".join(f"{column} = ?, " for column in changes)
        with self._write() as conn:
            conn.execute(
                f"UPDATE project SET {assignments}cd_operation = 'U', cd_time = ?"  # noqa: S608
                " WHERE project_no = ?",
                [*changes.values(), format_time(now_local()), project_no],
            )
        return self.case(project_no)
