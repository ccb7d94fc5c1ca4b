"""Compile a checked MappingSpec into plain callables, once, at load.

Every problem found here becomes a ConfigError naming the file, the line and the field
(``fields.status.map``), so department IT can fix the file without reading Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from hub.mapping import transforms as t
from hub.mapping.errors import MappingError
from hub.mapping.fastpath import FieldPlan, Step
from hub.mapping.sources import Access, Getter, Source, make_source
from hub.mapping.spec import FieldSpec, MappingSpec
from hub.mapping.targets import TARGETS, check_target_field
from hub.yamlconf import ConfigError, field_path, line_of

__all__ = ["FieldRule", "SpecCompiler"]

Loc = tuple[str | int, ...]
DEFAULT_ZONE = "Asia/Shanghai"

#: Transforms written as a bare name in a ``transforms:`` list.
_BARE: dict[str, t.Transform] = {
    **t.TYPE_CASTS,
    "strip": t.strip,
    "upper": t.upper,
    "lower": t.lower,
    "datetime": t.parse_datetime([], ZoneInfo(DEFAULT_ZONE)),
    "date": t.parse_date([]),
    "format_datetime": t.format_datetime(None, ZoneInfo(DEFAULT_ZONE)),
    "format_date": t.format_date(None),
}


@dataclass(frozen=True)
class FieldRule:
    """One target field: where it goes (``keys``) and how to compute it from a record.

    ``plan`` holds the same parts, unwrapped, for the generated fast path.
    """

    target: str
    keys: tuple[str, ...]
    run: Callable[[Any], Any]
    plan: FieldPlan | None = None


def _literal(part: str) -> str | None:
    """``'text'`` inside a concat list is literal text, anything else is a path."""
    if len(part) >= 2 and part[0] == part[-1] == "'":
        return part[1:-1]
    return None


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ValueError, KeyError, OSError):
        raise ValueError(f"未知时区 {name} (unknown time zone)") from None


def _formats(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _required(value: Any) -> Any:
    if value is None or value == "" or value == []:
        raise MappingError("", "缺少必填字段 (required field missing)")
    return value


def _chain(target: str, getter: Getter, steps: Sequence[t.Transform]) -> Callable[[Any], Any]:
    """Getter then steps; any failure becomes MappingError naming the target field."""
    steps = tuple(steps)
    pipeline = steps[0] if len(steps) == 1 else _compose(steps)

    def run(record: Any) -> Any:
        try:
            return pipeline(getter(record))
        except MappingError as exc:
            raise MappingError(target, exc.reason) from None
        except (ValueError, TypeError, AttributeError, ArithmeticError, LookupError) as exc:
            raise MappingError(
                target, f"取值或转换失败 (cannot read or convert: {type(exc).__name__})"
            ) from None

    return run


def _only_when(condition: Getter, run: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``when: path``: the field exists only if that path has a value (defaults included)."""
    return lambda record: run(record) if condition(record) is not None else None


def _compose(steps: tuple[t.Transform, ...]) -> t.Transform:
    if not steps:
        return _identity

    def composed(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return composed


def _identity(value: Any) -> Any:
    return value


class SpecCompiler:
    """Holds the file context so every error can say where it is."""

    def __init__(self, spec: MappingSpec, path: Path, root: yaml.Node | None) -> None:
        self.spec = spec
        self.path = path
        self.root = root
        self.source_kind: Source = make_source(spec.source, spec.namespaces)

    def error(self, loc: Loc, message: str) -> ConfigError:
        return ConfigError(self.path, line_of(self.root, loc), field_path(loc), message)

    def check_header(self) -> None:
        spec = self.spec
        inbound = spec.direction == "inbound"
        if inbound and spec.source == "canonical":
            raise self.error(
                ("source",), "入站映射的 source 须为 xml、json 或 row (inbound source)"
            )
        if not inbound and spec.source != "canonical":
            raise self.error(("source",), "出站映射的 source 须为 canonical (outbound source)")
        if inbound and spec.target not in TARGETS:
            known = "、".join(sorted(TARGETS))
            raise self.error(("target",), f"未知目标，可选 {known} (unknown target)")
        if not inbound and spec.target not in ("json", "soap", "row"):
            raise self.error(
                ("target",), "出站映射的 target 须为 json、soap 或 row (outbound target)"
            )
        if spec.namespaces and spec.source != "xml":
            raise self.error(("namespaces",), "namespaces 仅用于 xml (namespaces are for xml only)")

    def rules(self) -> list[FieldRule]:
        self.check_header()
        model = TARGETS.get(self.spec.target)
        compiled = []
        for name, field in self.spec.fields.items():
            loc: Loc = ("fields", name)
            if model is not None:
                try:
                    check_target_field(model, name)
                except ValueError as exc:
                    raise self.error(loc, str(exc)) from None
            compiled.append(self.field(name, field, loc))
        return compiled

    def field(self, target: str, field: FieldSpec, loc: Loc) -> FieldRule:
        getter = self.source(target, field, loc)
        steps = [
            self.step(item, (*loc, "transforms", i)) for i, item in enumerate(field.transforms)
        ]
        steps += self.shorthand_steps(field, loc)
        run = _chain(target, getter, [step.run for step in steps])
        when: Getter | None = None
        if field.when is not None:
            when = self.getter(field.when, (*loc, "when"))
            run = _only_when(when, run)
        keys = tuple(target.split("."))
        plan = FieldPlan(
            keys,
            getter,
            self.access(field),
            tuple(steps),
            when,
            None if field.when is None else self.source_kind.access(field.when),
        )
        return FieldRule(target, keys, run, plan)

    def access(self, field: FieldSpec) -> Access | None:
        """The field's read, if the fast path can inline it (its getter is built already)."""
        if field.list_of_pairs is not None or field.concat is not None:
            return None
        if field.path is not None:
            return self.source_kind.access(field.path)
        return Access("const", value=field.const)

    def source(self, target: str, field: FieldSpec, loc: Loc) -> Getter:
        if field.list_of_pairs is not None:
            return self.pairs(target, field, (*loc, "list_of_pairs"))
        if field.concat is not None:
            return self.concat(field.concat, (*loc, "concat"))
        if field.path is not None:
            return self.getter(field.path, (*loc, "path"))
        const = field.const
        return lambda record: const

    def getter(self, path: str, loc: Loc) -> Getter:
        try:
            return self.source_kind.getter(path)
        except ValueError as exc:
            raise self.error(loc, f"路径无效 (invalid path): {exc}") from None

    def concat(self, parts: list[str], loc: Loc) -> Getter:
        """Literal pieces and paths joined; None when every path is missing."""
        pieces: list[str | Getter] = []
        for index, part in enumerate(parts):
            text = _literal(part)
            pieces.append(text if text is not None else self.getter(part, (*loc, index)))

        def join(record: Any) -> Any:
            found = False
            out: list[str] = []
            for piece in pieces:
                if isinstance(piece, str):
                    out.append(piece)
                    continue
                value = piece(record)
                if value is not None:
                    found = True
                    out.append(t.to_str(value))
            return "".join(out) if found else None

        return join

    def pairs(self, target: str, field: FieldSpec, loc: Loc) -> Getter:
        spec = field.list_of_pairs
        assert spec is not None
        inner = [
            self.field(f"{target}.{name}", sub, (*loc, "fields", name))
            for name, sub in spec.fields.items()
        ]
        name_key, value_key = spec.name_key, spec.value_key

        def build(record: Any) -> list[dict[str, Any]]:
            out = []
            for rule in inner:
                value = rule.run(record)
                if value is not None:
                    out.append({name_key: rule.keys[-1], value_key: value})
            return out

        return build

    def shorthand_steps(self, field: FieldSpec, loc: Loc) -> list[Step]:
        """Shorthand keys run after ``transforms:`` in a fixed, documented order."""
        has_default = "default" in field.model_fields_set
        steps: list[Step] = []
        if field.map is not None and field.code_table is not None:
            raise self.error((*loc, "code_table"), "map 与 code_table 只能选一个 (choose one)")
        table = field.map if field.map is not None else self.code_table(field.code_table, loc)
        if table is not None:
            # With a default, an unknown code becomes missing and the default step fills it,
            # so the default (written in target terms) is not cast or masked again.
            run = t.code_map(table, None) if has_default else t.code_map(table)
            lookup = {str(key): value for key, value in table.items()}
            steps.append(Step(run, "code", (lookup, has_default, None)))
        steps += [self.typed(step, field) for step in self.type_steps(field, loc)]
        if field.mask is not None:
            steps.append(Step(t.mask(field.mask)))
        if has_default:
            steps.append(Step(t.default(field.default), "default", field.default))
        if field.required:
            steps.append(Step(_required, "required"))
        return steps

    def typed(self, run: t.Transform, field: FieldSpec) -> Step:
        """A ``type:`` step; inlined by the fast path: an inbound date-time whose first
        format is ISO-shaped, plain whole numbers and the usual booleans in text."""
        fits = t.iso_first_shape(_formats(field.format))
        if field.type == "datetime" and self.spec.direction == "inbound" and fits is not None:
            return Step(run, "iso", (fits, _zone(field.tz)))
        if run is t.to_int:
            return Step(run, "int", t.plain_int)
        if run is t.to_bool:
            return Step(run, "bool", (t.TRUE_TEXTS, t.FALSE_TEXTS))
        return Step(run)

    def code_table(self, name: str | None, loc: Loc) -> dict[str, Any] | None:
        if name is None:
            return None
        if name not in self.spec.code_tables:
            raise self.error(
                (*loc, "code_table"), f"code_tables 中没有 {name} (no such code table)"
            )
        return self.spec.code_tables[name]

    def type_steps(self, field: FieldSpec, loc: Loc) -> list[t.Transform]:
        if field.type not in ("datetime", "date"):
            for key in ("format", "tz"):
                if getattr(field, key) is not None:
                    raise self.error(
                        (*loc, key), f"{key} 仅用于 type: datetime 或 date (needs a date type)"
                    )
            return [t.TYPE_CASTS[field.type]] if field.type else []
        try:
            zone = _zone(field.tz)
        except ValueError as exc:
            raise self.error((*loc, "tz"), str(exc)) from None
        formats = _formats(field.format)
        if self.spec.direction == "inbound":
            return [
                t.parse_datetime(formats, zone)
                if field.type == "datetime"
                else t.parse_date(formats)
            ]
        if len(formats) > 1:
            raise self.error((*loc, "format"), "出站只能给一个格式 (outbound takes one format)")
        fmt = formats[0] if formats else None
        return [t.format_datetime(fmt, zone) if field.type == "datetime" else t.format_date(fmt)]

    def step(self, item: str | dict[str, Any], loc: Loc) -> Step:
        """A ``transforms:`` item, with what the fast path needs to inline a regex."""
        run = self.transform(item, loc)
        if isinstance(item, dict) and isinstance(item.get("regex"), str):
            pattern = re.compile(item["regex"])
            return Step(run, "regex", (pattern, 1 if pattern.groups else 0))
        return Step(run)

    def transform(self, item: str | dict[str, Any], loc: Loc) -> t.Transform:
        if isinstance(item, str):
            if item not in _BARE:
                raise self.error(loc, f"未知转换 {item} (unknown transform)")
            return _BARE[item]
        if len(item) != 1:
            raise self.error(loc, "每个转换写成一个键 (one key per transform, e.g. {regex: ...})")
        ((name, arg),) = item.items()
        factory = _FACTORIES.get(name)
        if factory is None:
            raise self.error((*loc, name), f"未知转换 {name} (unknown transform)")
        try:
            return factory(self, arg, (*loc, name))
        except (ValueError, TypeError, KeyError) as exc:
            raise self.error(
                (*loc, name), f"转换参数无效 (bad transform argument): {exc}"
            ) from None


def _regex(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
    if not isinstance(arg, str):
        raise ValueError("须为正则表达式文本 (a regular expression)")
    try:
        return t.regex(arg)
    except re.error as exc:
        raise ValueError(f"正则表达式错误 (bad regex): {exc}") from None


def _text_arg(
    factory: Callable[[str], t.Transform],
) -> Callable[[SpecCompiler, Any, Loc], t.Transform]:
    def build(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
        if not isinstance(arg, str):
            raise ValueError("须为文本 (must be text)")
        return factory(arg)

    return build


def _map(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
    if not isinstance(arg, dict):
        raise ValueError("须为代码表 (must be a table of codes)")
    return t.code_map(arg)


def _code_table(compiler: SpecCompiler, arg: Any, loc: Loc) -> t.Transform:
    table = compiler.code_table(str(arg), loc[:-1])
    assert table is not None
    return t.code_map(table)


def _mask(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
    if arg not in t.MASKS:
        raise ValueError(f"可选 {'、'.join(t.MASKS)} (choose a mask kind)")
    return t.mask(arg)


def _date_options(arg: Any) -> tuple[list[str], ZoneInfo]:
    if isinstance(arg, str | list):
        return _formats(arg), _zone(None)
    if isinstance(arg, dict) and set(arg) <= {"format", "tz"}:
        return _formats(arg.get("format")), _zone(arg.get("tz"))
    raise ValueError("写成格式文本或 {format, tz} (a format or {format, tz})")


def _parse_datetime(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
    return t.parse_datetime(*_date_options(arg))


def _parse_date(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
    return t.parse_date(_date_options(arg)[0])


def _format_datetime(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
    formats, zone = _date_options(arg)
    return t.format_datetime(formats[0] if formats else None, zone)


def _format_date(_: SpecCompiler, arg: Any, __: Loc) -> t.Transform:
    formats, _zone_unused = _date_options(arg)
    return t.format_date(formats[0] if formats else None)


_FACTORIES: dict[str, Callable[[SpecCompiler, Any, Loc], t.Transform]] = {
    "regex": _regex,
    "map": _map,
    "code_table": _code_table,
    "split": _text_arg(t.split),
    "join": _text_arg(t.join),
    "mask": _mask,
    "default": lambda _, arg, __: t.default(arg),
    "datetime": _parse_datetime,
    "date": _parse_date,
    "format_datetime": _format_datetime,
    "format_date": _format_date,
}
