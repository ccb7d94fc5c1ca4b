"""Replay dead letters of a pull once the mapping (or the data) is fixed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from hub.mapping.engine import Mapping
from hub.mapping.errors import MappingError
from hub.mapping.parsing import parse_page
from hub.model.base import utcnow
from hub.services.catalogue import read_catalogue
from hub.services.sinks import SINKS, SinkContext
from hub.store.db import transaction
from hub.store.dead_letters import DeadLetter, mark_replayed


@dataclass(frozen=True)
class ReplayOutcome:
    letter_id: int
    ok: bool
    message: str


def _record(letter: DeadLetter, mapping: Mapping) -> object:
    original = letter.original()
    raw = original.encode("utf-8") if isinstance(original, str) else original
    source: Literal["xml", "json"] = "xml" if mapping.source == "xml" else "json"
    parsed = parse_page(raw, source)
    records = mapping.records(parsed) if source == "xml" else [parsed]
    if len(records) != 1:
        raise MappingError("", f"死信应含一条记录，实有 {len(records)} 条 (expected one record)")
    return records[0]


class _Refused(Exception):
    pass


def _canonical(letter: DeadLetter, mapping: Mapping) -> BaseModel:
    if letter.payload_format == "canonical" and mapping.model is not None:
        try:
            return mapping.model.model_validate_json(letter.payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise MappingError(path, first["msg"]) from None
    return mapping.to_canonical(_record(letter, mapping))


def replay(engine: Engine, letter: DeadLetter, mapping: Mapping) -> ReplayOutcome:
    """Map the original payload again and store it; mark it replayed only if that worked."""
    try:
        model = _canonical(letter, mapping)
    except MappingError as exc:
        return ReplayOutcome(letter.id, False, f"{exc.field_path or '-'}: {exc.reason}")
    context = SinkContext(letter.source, read_catalogue(engine), utcnow())
    try:
        with transaction(engine) as conn:
            result = SINKS[mapping.target](conn, [model], context)
            if result.rejected:
                _, field, reason = result.rejected[0]
                raise _Refused(f"{field or '-'}: {reason}")
            mark_replayed(conn, letter.id)
    except _Refused as exc:
        return ReplayOutcome(letter.id, False, str(exc))
    if result.inserted:
        return ReplayOutcome(letter.id, True, "新增 inserted")
    return ReplayOutcome(letter.id, True, "变更 changed" if result.changed else "未变 unchanged")
