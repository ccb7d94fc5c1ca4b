"""The sandbox Hebei network writes its paged replies fast; the document must be the one the
generic lxml writer builds, escapes and all."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from hub.sandbox.hebei import NS, HebeiSystem, MatterChange, NewCase
from hub.sandbox.soap import SoapSystem


def request(operation: str, page: int = 1, size: int = 50, since: str = "") -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<{operation} xmlns="{NS}"><since>{since}</since><pageNo>{page}</pageNo>'
        f"<pageSize>{size}</pageSize></{operation}></soap:Body></soap:Envelope>"
    ).encode()


def canonical(body: bytes) -> bytes:
    return bytes(etree.tostring(etree.fromstring(body), method="c14n"))


@pytest.fixture
def hebei(tmp_path: Path) -> HebeiSystem:
    system = HebeiSystem(tmp_path)
    system.seed(120)
    return system


@pytest.mark.parametrize("page", [1, 3])
def test_matter_pages_equal_the_generic_writer(hebei: HebeiSystem, page: int) -> None:
    fast = hebei.dispatch(request("queryTasks", page)).body
    generic = SoapSystem.dispatch(hebei, request("queryTasks", page)).body
    assert canonical(fast) == canonical(generic)
    assert fast.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_escapes_nulls_and_control_characters(hebei: HebeiSystem) -> None:
    with hebei.store.transaction() as conn:
        conn.execute("UPDATE task SET task_name = '食品<经营> & 许可', town_code = NULL")
    fast = hebei.dispatch(request("queryTasks")).body
    assert canonical(fast) == canonical(SoapSystem.dispatch(hebei, request("queryTasks")).body)
    names = etree.fromstring(fast).xpath("//h:task_name/text()", namespaces={"h": NS})
    assert names[0] == "食品<经营> & 许可"
    assert not etree.fromstring(fast).xpath("//h:town_code", namespaces={"h": NS})
    with hebei.store.transaction() as conn:  # XML 1.0 cannot carry it: dropped
        conn.execute("UPDATE task SET task_name = '食品' || char(7) || '许可'")
    again = etree.fromstring(hebei.dispatch(request("queryTasks")).body)
    assert again.xpath("//h:task_name/text()", namespaces={"h": NS})[0] == "食品许可"


def test_case_pages_and_faults(hebei: HebeiSystem) -> None:
    code = hebei.store.scalar("SELECT task_code FROM task LIMIT 1")
    hebei.add_case(NewCase(task_code=code, accept_date="2026-11-23 09:00:00"))
    fast = hebei.dispatch(request("queryProjects")).body
    assert canonical(fast) == canonical(SoapSystem.dispatch(hebei, request("queryProjects")).body)
    fault = hebei.dispatch(request("queryTasks", size=5000))
    assert fault.status_code == 500 and b"Fault" in fault.body


def test_pages_served_again_come_from_rendered_rows_until_a_write(hebei: HebeiSystem) -> None:
    """Rendered once, continued by key, and still exactly what the generic writer builds;
    any write (the control API or straight into the database) is seen at once."""
    first = [hebei.dispatch(request("queryTasks", page, 25)).body for page in (1, 2, 3, 4, 5)]
    assert len(hebei._fragments) == 120 and hebei._page_ends
    again = [hebei.dispatch(request("queryTasks", page, 25)).body for page in (1, 2, 3, 4, 5)]
    assert again == first
    for page, body in enumerate(again, start=1):
        generic = SoapSystem.dispatch(hebei, request("queryTasks", page, 25)).body
        assert canonical(body) == canonical(generic)
    code = hebei.store.scalar("SELECT task_code FROM task ORDER BY cd_time, task_code LIMIT 1")
    hebei.change_matter(code, MatterChange(task_name="食品经营许可（变更）"))  # moves it last
    moved = [hebei.dispatch(request("queryTasks", page, 25)).body for page in (1, 2, 3, 4, 5)]
    assert moved != first
    for page, body in enumerate(moved, start=1):
        generic = SoapSystem.dispatch(hebei, request("queryTasks", page, 25)).body
        assert canonical(body) == canonical(generic)
    assert "食品经营许可（变更）".encode() in moved[-1]
    with hebei.store.transaction() as conn:  # past the system's own write path
        conn.execute("UPDATE task SET dept_name = '经开区某局' WHERE task_code = ?", (code,))
    assert "经开区某局".encode() in hebei.dispatch(request("queryTasks", 5, 25)).body


def test_pages_after_a_since_cursor_continue_by_key(hebei: HebeiSystem) -> None:
    since = "2025-01-01 08:05:00"
    bodies = [
        hebei.dispatch(request("queryTasks", page, 30, since=since)).body for page in (1, 2, 3)
    ]
    again = [
        hebei.dispatch(request("queryTasks", page, 30, since=since)).body for page in (1, 2, 3)
    ]
    assert again == bodies
    for page, body in enumerate(again, start=1):
        generic = SoapSystem.dispatch(hebei, request("queryTasks", page, 30, since=since)).body
        assert canonical(body) == canonical(generic)
