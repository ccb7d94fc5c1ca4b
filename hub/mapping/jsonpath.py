"""A small, safe JSON path evaluator: ``$.a.b[0].c``, ``$['a b']``, ``$.items[*]``.

Mapping files are written by department IT, so paths are parsed by a grammar into steps at
load time; nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["JsonGetter", "compile_json_path", "json_path_keys"]

JsonGetter = Callable[[Any], Any]

_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]'"\s]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[(?P<star>\*)\]"""
    r"""|\[(?P<q>['"])(?P<quoted>[^'"]*)(?P=q)\]"""
)
_STAR = object()


def _steps(path: str) -> list[str | int | object]:
    """Split a path into keys (str), indexes (int) and wildcards; ValueError if malformed."""
    text = path.strip()
    if not text:
        raise ValueError("JSON 路径为空 (empty JSON path)")
    if text.startswith("$"):
        text = text[1:]
    elif not text.startswith("["):
        text = "." + text
    steps: list[str | int | object] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(
                f"JSON 路径第{position + 1}个字符附近无法解析 "
                f"(cannot parse JSON path near character {position + 1})"
            )
        if match["name"] is not None:
            steps.append(match["name"])
        elif match["index"] is not None:
            steps.append(int(match["index"]))
        elif match["star"] is not None:
            steps.append(_STAR)
        else:
            steps.append(match["quoted"])
        position = match.end()
    return steps


def _step(value: Any, step: str | int) -> Any:
    """One step down; None when the key or index is not there."""
    if isinstance(step, str):
        return value.get(step) if isinstance(value, dict) else None
    if isinstance(value, list) and -len(value) <= step < len(value):
        return value[step]
    return None


def _keys_only(keys: tuple[str, ...]) -> JsonGetter:
    """The common case, object keys only, without a function call per step."""
    if len(keys) == 1:
        (key,) = keys
        return lambda value: value.get(key) if isinstance(value, dict) else None

    def get(value: Any) -> Any:
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get


def _single(steps: tuple[str | int, ...]) -> JsonGetter:
    if all(isinstance(step, str) for step in steps):
        return _keys_only(steps)  # type: ignore[arg-type]

    def get(value: Any) -> Any:
        for step in steps:
            value = _step(value, step)
            if value is None:
                return None
        return value

    return get


def _many(steps: tuple[str | int | object, ...]) -> JsonGetter:
    """With ``[*]`` the result is always a list (possibly empty)."""

    def get(value: Any) -> list[Any]:
        current = [value]
        for step in steps:
            if step is _STAR:
                current = [item for found in current if isinstance(found, list) for item in found]
            else:
                current = [
                    found
                    for found in (_step(item, step) for item in current)  # type: ignore[arg-type]
                    if found is not None
                ]
        return current

    return get


def compile_json_path(path: str) -> JsonGetter:
    """A getter for ``path``; a path without ``$`` is read from the record root."""
    steps = tuple(_steps(path))
    if any(step is _STAR for step in steps):
        return _many(steps)
    return _single(steps)  # type: ignore[arg-type]


def json_path_keys(path: str) -> tuple[str, ...] | None:
    """The object keys of a path made of keys only (``$.caller.name``), else None."""
    steps = tuple(_steps(path))
    if steps and all(isinstance(step, str) for step in steps):
        return steps  # type: ignore[return-value]
    return None
