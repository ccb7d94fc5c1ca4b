"""A loaded mapping: select records from a page, map them, validate inbound ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from pydantic import BaseModel, ValidationError

from hub.mapping.compiler import FieldRule, SpecCompiler
from hub.mapping.errors import MappingError
from hub.mapping.fastpath import build_fast_apply
from hub.mapping.sources import Getter, Source, XmlRecord, XmlSource
from hub.mapping.spec import MappingSpec
from hub.mapping.targets import TARGETS
from hub.yamlconf import ConfigError, line_of, load_model

__all__ = ["Mapping", "load_mapping", "load_mappings", "serialise_record"]


class Mapping:
    """Compiled once at load; ``apply`` runs plain callables, no spec parsing per record."""

    def __init__(
        self,
        spec: MappingSpec,
        path: Path,
        rules: Sequence[FieldRule],
        source: Source,
        selector: Getter,
    ) -> None:
        self.name = spec.name
        self.direction: Literal["inbound", "outbound"] = spec.direction
        self.source = spec.source
        self.target = spec.target
        self.path = path
        self.model: type[BaseModel] | None = TARGETS.get(spec.target)
        # (parent keys, last key, run): split once here so apply does no slicing per record
        self._rules = tuple((rule.keys[:-1], rule.keys[-1], rule.run) for rule in rules)
        self._selector = selector
        self._source = source
        self._prepare = source.prepare
        plans = [rule.plan for rule in rules]
        self._fast = (
            build_fast_apply(
                [plan for plan in plans if plan is not None],
                spec.source,
                source.prepare,
                self._apply_rules,
            )
            if None not in plans
            else None
        )
        # The model's own validator: what model_validate runs, minus its keyword handling.
        self._validate: Callable[[Any], BaseModel] | None = (
            None if self.model is None else self.model.__pydantic_validator__.validate_python
        )

    def __repr__(self) -> str:
        return f"Mapping({self.name!r}, {self.direction}, {self.source} → {self.target})"

    def prepare(self, record: Any) -> Any:
        """The record as the field rules read it (XML: its children's texts, found once);
        to_canonical takes it as it takes the raw record."""
        return self._prepare(record)

    @property
    def reads_child_texts_only(self) -> bool:
        """XML whose fields read only the texts of the record's direct children: what
        prepare gives is all the mapping ever sees of a record."""
        source = self._source
        return isinstance(source, XmlSource) and not source.reads_elements

    def reader(self, path: str) -> Callable[[Any], Any]:
        """A getter for one raw-record path (e.g. a stream's cursor column), same namespaces."""
        return self._source.reader(path)

    def records(self, page: Any) -> list[Any]:
        """The records of a parsed page (lxml element, JSON value or list of rows)."""
        try:
            found = self._selector(page)
            return found if type(found) is list else list(found)
        except (etree.XPathError, TypeError, AttributeError) as exc:
            raise MappingError("", f"无法从页面选出记录 (cannot select records): {exc}") from None

    def apply(self, record: Any) -> dict[str, Any]:
        """Map one record to a plain dict; missing (None) values are left out.

        The generated fast path computes the same dict; if it raises, the field rules run
        instead and raise the error with its field path (see hub.mapping.fastpath).
        """
        fast = self._fast
        if fast is None:
            return self._apply_rules(record)
        try:
            return fast(record)
        except Exception:  # the rules raise the real error, naming the field
            return self._apply_rules(record)

    def _apply_rules(self, record: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        record = self._prepare(record)
        for parents, last, run in self._rules:
            value = run(record)
            if value is None:
                continue
            node = out
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        return out

    def to_canonical(self, record: Any) -> BaseModel:
        """Apply, then validate against the target model (inbound mappings only)."""
        validate = self._validate
        if validate is None:
            raise TypeError(f"{self.name} 是出站映射 (outbound mappings have no canonical model)")
        fast = self._fast  # as apply, without one more call per record
        if fast is None:
            data = self._apply_rules(record)
        else:
            try:
                data = fast(record)
            except Exception:  # the rules raise the real error, naming the field
                data = self._apply_rules(record)
        try:
            return validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise MappingError(where, f"校验失败 (validation failed): {first['msg']}") from None


def serialise_record(record: Any) -> str:
    """The record as text for a dead letter: XML as written, JSON and rows as JSON."""
    if isinstance(record, XmlRecord):
        record = record.element
    if isinstance(record, etree._Element):
        return etree.tostring(record, encoding="unicode")
    if not isinstance(record, dict | list | str | int | float | bool) and hasattr(record, "keys"):
        record = dict(record)
    return json.dumps(record, ensure_ascii=False, default=str)


def load_mapping(path: Path | str) -> Mapping:
    """Read, check and compile one mapping file; ConfigError names file, line and field."""
    path = Path(path)
    spec, root = load_model(path, MappingSpec)
    compiler = SpecCompiler(spec, path, root)
    rules = compiler.rules()
    source = compiler.source_kind
    try:
        selector = source.selector(spec.record)
    except ValueError as exc:
        raise compiler.error(
            ("record",), f"记录选择器无效 (invalid record selector): {exc}"
        ) from None
    return Mapping(spec, path, rules, source, selector)


def load_mappings(folder: Path | str) -> dict[str, Mapping]:
    """Every ``*.yaml`` in ``folder`` by name; two files with one name is an error."""
    found: dict[str, Mapping] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        mapping = load_mapping(path)
        if mapping.name in found:
            _, root = load_model(path, MappingSpec)
            raise ConfigError(
                path,
                line_of(root, ["name"]),
                "name",
                f"名称与 {found[mapping.name].path.name} 重复 (duplicate mapping name)",
            )
        found[mapping.name] = mapping
    return found
