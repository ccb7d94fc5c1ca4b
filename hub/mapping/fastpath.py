"""The per-record fast path: a mapping's field rules generated as one Python function.

The rules compiled by :mod:`hub.mapping.compiler` are closures: per field a runner, a getter
and one call per transform, each failure turned into a :class:`MappingError` naming the
field. That is clear and it is what produces every error, but a record pays several calls
per field. At load the same rules are also written out as one straight-line function, with
the simple reads (JSON keys, an XML child's text, a row column, a constant) and the common
steps (``required``, ``default``, ``map``/``code_table``, ``regex``, ``strip``/``upper``/
``lower``, ``str``, a one-format ISO date-time) inlined for text values and every other
transform called as the same compiled callable.

The generated function only ever returns the dict the rules would return. It has no error
handling of its own: if anything in it raises, :class:`~hub.mapping.engine.Mapping` runs the
closures on the same record instead, so the error raised (field path and reason) is exactly
the one the rules give. Transforms are pure, so running them twice changes nothing.

No text from a mapping file is ever written into the generated source as code: keys
appear only as ``repr`` of a ``str`` (a string literal), a regex group as an ``int``, and
every callable, table or value is bound by a generated name. tests/mapping/test_fastpath.py
checks the generated code against the rules on generated records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from hub.mapping import transforms as t
from hub.mapping.sources import Access, Getter

__all__ = ["FieldPlan", "Step", "build_fast_apply"]

Apply = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Step:
    """One transform of a field, and whether the fast path may write it out inline."""

    run: t.Transform
    inline: Literal["default", "required", "code", "regex", "iso", "int", "bool"] | None = None
    #: default: the value; code: (table keyed by text, has fallback, fallback);
    #: regex: (compiled pattern, group); iso: (shape test of the first format, zone) of a
    #: date-time; int: the test for text int() reads as to_int does; bool: (true, false texts)
    value: Any = None


@dataclass(frozen=True)
class FieldPlan:
    """What a field rule is made of, for the fast path: read, steps, condition, place."""

    keys: tuple[str, ...]
    getter: Getter
    access: Access | None
    steps: tuple[Step, ...]
    when: Getter | None = None
    when_access: Access | None = None


class _Fallback(Exception):
    """Raised by generated code where the rules would fail: the closures then say why."""


_MISSING = object()


#: Text transforms that are a ``str`` method on text and pass None through.
_TEXT_METHODS: dict[Any, str] = {t.strip: "strip", t.upper: "upper", t.lower: "lower"}


def _literal(value: str) -> str:
    """A key as a string literal in generated source (never as code)."""
    if type(value) is not str:  # defensive: paths and targets are always text
        raise TypeError("only text keys can be written into the fast path")
    return repr(value)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "_Fallback": _Fallback,
            "_MISSING": _MISSING,
            "_from_iso": datetime.fromisoformat,
            "_combine": datetime.combine,
            "_int": int,
        }

    def bind(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def read(self, indent: int, var: str, access: Access | None, getter: Getter) -> None:
        """``var = <value of the path in record>``, inlined when the access is simple."""
        if access is None:
            self.emit(indent, f"{var} = {self.bind('get', getter)}(record)")
        elif access.kind == "const":
            self.emit(indent, f"{var} = {self.bind('const', access.value)}")
        elif access.kind == "text":
            (key,) = access.keys
            self.emit(indent, f"{var} = texts.get({_literal(key)})")
        elif access.kind == "get":
            (key,) = access.keys
            self.emit(indent, f"{var} = record.get({_literal(key)})")
        else:  # "keys": the record is a dict (checked on entry), deeper levels may not be
            first, *rest = access.keys
            self.emit(indent, f"{var} = record.get({_literal(first)})")
            for key in rest:
                self.emit(
                    indent,
                    f"{var} = {var}.get({_literal(key)}) if isinstance({var}, dict) else None",
                )

    def step(self, indent: int, step: Step, known: bool) -> bool:
        """Write one step; ``known``: v is certainly not None before it. Returns the same after.

        Only ``required`` and ``default`` make v known; every other step may give None.
        """
        if step.inline == "required":
            # as compiler._required: missing, empty text and empty list are refused
            self.emit(indent, 'if v is None or v == "" or (type(v) is not str and v == []):')
            self.emit(indent + 1, "raise _Fallback")
            return True
        if step.inline == "default":
            # as transforms.default: a missing or empty value takes the default
            self.emit(indent, 'if v is None or v == "":')
            self.emit(indent + 1, f"v = {self.bind('default', step.value)}")
            return step.value is not None or known
        if step.inline == "code":
            # as transforms.code_map for text codes; other values take the transform itself
            table, has_fallback, fallback = step.value
            missing = "raise _Fallback"
            if has_fallback:
                missing = f"v = {self.bind('fallback', fallback)}"
            self.text_or_step(
                indent,
                step,
                [
                    (0, f"v = {self.bind('table', table)}.get(v, _MISSING)"),
                    (0, "if v is _MISSING:"),
                    (1, missing),
                ],
            )
        elif step.inline == "regex":
            # as transforms.regex for text: the group of the first match, or None
            pattern, group = step.value
            if type(group) is not int:
                raise TypeError("a regex group is a number")
            self.text_or_step(
                indent,
                step,
                [
                    (0, f"m = {self.bind('search', pattern.search)}(v)"),
                    (0, f"v = None if m is None else m.group({group})"),
                ],
            )
        elif step.inline == "iso":
            # as transforms.parse_datetime for text of its first format's ISO shape (read as
            # local time in the zone); a date fromisoformat refuses raises, and the rules
            # then read it with the other formats or give their error
            fits, zone = step.value
            run = self.bind("step", step.run)
            self.text_or_step(
                indent,
                step,
                [
                    (0, "s = v.strip()"),
                    (0, f"if {self.bind('fits', fits)}(s) is None:"),
                    (1, f"v = {run}(v)"),
                    (0, "else:"),
                    (1, "s = _from_iso(s)"),
                    (1, f"v = _combine(s.date(), s.time(), {self.bind('zone', zone)})"),
                ],
                run,
            )
        elif step.inline == "int":
            # as transforms.to_int for text that is a plain whole number once stripped
            run, plain = self.bind("step", step.run), self.bind("plain", step.value)
            self.text_or_step(
                indent,
                step,
                [(0, "s = v.strip()"), (0, f"v = _int(s) if {plain}(s) else {run}(v)")],
                run,
            )
        elif step.inline == "bool":
            # as transforms.to_bool for text: the usual words, else the transform (which fails)
            true, false = step.value
            run = self.bind("step", step.run)
            self.text_or_step(
                indent,
                step,
                [
                    (0, "s = v.strip().lower()"),
                    (0, f"if s in {self.bind('true', true)}:"),
                    (1, "v = True"),
                    (0, f"elif s in {self.bind('false', false)}:"),
                    (1, "v = False"),
                    (0, "else:"),
                    (1, f"v = {run}(v)"),
                ],
                run,
            )
        elif step.run is t.to_str:
            self.emit(indent, "if v is not None and type(v) is not str:")
            self.emit(indent + 1, f"v = {self.bind('step', step.run)}(v)")
        elif step.run in _TEXT_METHODS:
            self.text_or_step(indent, step, [(0, f"v = v.{_TEXT_METHODS[step.run]}()")])
        else:
            self.emit(indent, f"v = {self.bind('step', step.run)}(v)")
        return False

    def text_or_step(
        self, indent: int, step: Step, text: list[tuple[int, str]], run: str | None = None
    ) -> None:
        """Text gets the inlined lines (depth below the ``if``); any other value that is
        not None gets the step's own callable, exactly as the rules would run it."""
        self.emit(indent, "if type(v) is str:")
        for depth, line in text:
            self.emit(indent + 1 + depth, line)
        self.emit(indent, "elif v is not None:")
        self.emit(indent + 1, f"v = {run or self.bind('step', step.run)}(v)")

    def store(self, indent: int, keys: tuple[str, ...], known: bool) -> None:
        """As ``node.setdefault(key, {})`` down the parents, then the last key (None: skip)."""
        if not known:
            self.emit(indent, "if v is not None:")
            indent += 1
        node = "out"
        for depth, key in enumerate(keys[:-1]):
            child = f"n{depth}"
            self.emit(indent, f"{child} = {node}.get({_literal(key)})")
            self.emit(indent, f"if {child} is None:")
            self.emit(indent + 1, f"{child} = {node}[{_literal(key)}] = {{}}")
            node = child
        self.emit(indent, f"{node}[{_literal(keys[-1])}] = v")


def _overlapping(plans: Sequence[FieldPlan]) -> bool:
    """Whether one target is the parent of another (``a`` and ``a.b``).

    Then a value read from the record could become the dict the next field writes into;
    the closures handle that themselves, the fast path is not built for it.
    """
    targets = {plan.keys for plan in plans}
    return any(plan.keys[:depth] in targets for plan in plans for depth in range(1, len(plan.keys)))


def build_fast_apply(
    plans: Sequence[FieldPlan],
    kind: str,
    prepare: Callable[[Any], Any],
    slow: Apply,
) -> Apply | None:
    """One function doing what ``slow`` does for a record, or None if it cannot be built.

    ``kind`` is the source kind: for ``json`` a record that is not an object goes to
    ``slow``; for ``xml`` the record is prepared first and child texts read from it.
    """
    if not plans or _overlapping(plans):
        return None
    inlined = [
        access.kind for plan in plans for access in (plan.access, plan.when_access) if access
    ]
    if ("keys" in inlined and kind != "json") or ("text" in inlined and kind != "xml"):
        return None  # "keys" reads rely on the dict check below, "text" on prepared XML
    try:
        return _generate(plans, kind, prepare, slow)
    except (TypeError, ValueError, SyntaxError):  # an unforeseen spec: the rules serve alone
        return None


def _generate(
    plans: Sequence[FieldPlan], kind: str, prepare: Callable[[Any], Any], slow: Apply
) -> Apply:
    writer = _Writer()
    writer.names["prepare"] = prepare
    writer.names["slow"] = slow
    writer.emit(0, "def apply(record):")
    if kind == "json":
        writer.emit(1, "if type(record) is not dict:  # other objects: the rules")
        writer.emit(2, "return slow(record)")
    elif kind == "xml":
        writer.emit(1, "record = prepare(record)")
        writer.emit(1, "texts = record.texts")
    elif kind == "row":
        pass  # any object with .get; what it raises sends the record to the closures
    else:
        writer.emit(1, "record = prepare(record)")
    writer.emit(1, "out = {}")
    for plan in plans:
        indent = 1
        if plan.when is not None:
            writer.read(indent, "w", plan.when_access, plan.when)
            writer.emit(indent, "if w is not None:")
            indent += 1
        writer.read(indent, "v", plan.access, plan.getter)
        access = plan.access
        known = access is not None and access.kind == "const" and access.value is not None
        for step in plan.steps:
            known = writer.step(indent, step, known)
        writer.store(indent, plan.keys, known)
    writer.emit(1, "return out")
    source = "\n".join(writer.lines) + "\n"
    namespace: dict[str, Any] = dict(writer.names)
    exec(compile(source, "<mapping fast path>", "exec"), namespace)  # noqa: S102 - see module doc
    apply: Apply = namespace["apply"]
    return apply
