"""Misbehaviour on demand (故障注入): latency, errors, timeouts after commit, bad bodies.

A test or the demo sets a :class:`FaultPlan` through ``POST /_sandbox/faults``; the
middleware consults it on every call to the system's real API (never the control API).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

Corruption = Literal[
    "malformed", "billion_laughs", "xxe", "external_dtd", "oversize", "bad_charset"
]
BodyFormat = Literal["xml", "json"]


class FaultPlan(BaseModel):
    """What to do wrong; counters (``*_next``) are used up one call at a time."""

    latency_ms: int = Field(default=0, ge=0, le=60_000, description="每次调用延迟 (delay)")
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="随机失败比例")
    seed: int = Field(default=0, description="随机失败的种子 (seed for error_rate)")
    fail_next: int = Field(default=0, ge=0, description="接下来 N 次调用失败")
    fail_status: int = Field(default=500, ge=400, le=599)
    timeout_next: int = Field(
        default=0, ge=0, description="接下来 N 次调用先提交、再睡过客户端超时"
    )
    timeout_seconds: float = Field(default=5.0, ge=0.0, le=600.0)
    corrupt_next: int = Field(default=0, ge=0, description="接下来 N 次返回坏报文")
    corrupt: Corruption = "malformed"
    oversize_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    path_prefix: str = Field(default="", description="只影响此前缀的路径 (only these paths)")


@dataclass(frozen=True)
class Decision:
    """The plan's verdict for one call."""

    latency: float = 0.0
    fail_status: int | None = None
    corrupt: Corruption | None = None
    sleep_after: float = 0.0


class FaultState:
    """The current plan, its counters and the number of calls to the real API since it was
    set (tests count a client's retries with it), shared by the server threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = FaultPlan()
        self.calls = 0
        self._random = random.Random(0)

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self.calls = 0
            self._random = random.Random(plan.seed)

    def clear(self) -> None:
        self.set(FaultPlan())

    def decide(self, path: str) -> Decision:
        """Count the call and use up one unit of whichever fault applies."""
        with self._lock:
            self.calls += 1
            plan = self.plan
            if not path.startswith(plan.path_prefix):
                return Decision()
            latency = plan.latency_ms / 1000
            if plan.fail_next:
                plan.fail_next -= 1
                return Decision(latency=latency, fail_status=plan.fail_status)
            if plan.error_rate and self._random.random() < plan.error_rate:
                return Decision(latency=latency, fail_status=plan.fail_status)
            if plan.corrupt_next:
                plan.corrupt_next -= 1
                return Decision(latency=latency, corrupt=plan.corrupt)
            if plan.timeout_next:
                plan.timeout_next -= 1
                return Decision(latency=latency, sleep_after=plan.timeout_seconds)
            return Decision(latency=latency)


BILLION_LAUGHS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        b'<!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>\n"
)

SOAP_OPEN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><out>'
)
SOAP_CLOSE = b"</out></soap:Body></soap:Envelope>\n"
_ENVELOPE_TAG = b"<soap:Envelope"

XXE = (
    SOAP_OPEN.replace(
        _ENVELOPE_TAG, b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n' + _ENVELOPE_TAG
    )
    + b"&xxe;"
    + SOAP_CLOSE
)
EXTERNAL_DTD = (
    SOAP_OPEN.replace(
        _ENVELOPE_TAG, b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">\n' + _ENVELOPE_TAG
    )
    + b"&ext;"
    + SOAP_CLOSE
)
#: Neither valid UTF-8 nor valid GBK, whatever charset the reply declares.
BAD_BYTES = "坏字节".encode() + b"\xff\xfe\x80"

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"


def corrupt_body(kind: Corruption, body_format: BodyFormat, size: int) -> tuple[bytes, str]:
    """Bytes and a content type for a broken or hostile reply of the given kind.

    Hostile XML is XML whatever the system; the other kinds follow the system's format.
    """
    hostile = {"billion_laughs": BILLION_LAUGHS, "xxe": XXE, "external_dtd": EXTERNAL_DTD}
    if kind in hostile:
        return hostile[kind], XML_TYPE
    payload = {"malformed": None, "oversize": b"x" * size, "bad_charset": BAD_BYTES}[kind]
    if body_format == "json":
        if payload is None:
            return b'{"code": 0, "data": [{"orderNo": "RX', JSON_TYPE
        return b'{"code": 0, "message": "' + payload + b'"}', JSON_TYPE
    if payload is None:
        return SOAP_OPEN, XML_TYPE
    return SOAP_OPEN + payload + SOAP_CLOSE, XML_TYPE
