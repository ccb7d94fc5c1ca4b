"""Load YAML config files into pydantic models with errors that name file, line and field.

Department IT staff edit these files by hand; an error must point at the exact line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config file is wrong; carries where, so the CLI and the Airflow UI can say it."""

    def __init__(self, path: Path | str, line: int | None, field: str, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def _child(node: yaml.Node, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key or key_node.value == str(key):
                return value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None


def line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node on the path that exists in the file."""
    node = root
    line = root.start_mark.line + 1 if root is not None else None
    for part in loc:
        if node is None:
            break
        node = _child(node, part)
        if node is not None:
            line = node.start_mark.line + 1
    return line


def field_path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


#: libyaml's safe loader when installed (about 10x faster), else the pure-Python one.
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse once into nodes (they keep the line numbers), then build the data from them."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            path, None, "", f"无法读取文件 (cannot read file): {exc.strerror}"
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path, bad_line, "", f"文件须为 UTF-8 编码 (not UTF-8): {exc.reason}"
        ) from exc
    loader = _SAFE_LOADER(text)
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, line, "", f"YAML 语法错误 (syntax error): {exc.problem}") from exc
    finally:
        loader.dispose()


def validate(path: Path, data: Any, root: yaml.Node | None, model: type[M]) -> M:
    """Parsed YAML → model, or ConfigError naming the file, the line and the field."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        raise ConfigError(path, line_of(root, loc), field_path(loc), first["msg"]) from exc


def load_model(path: Path, model: type[M]) -> tuple[M, yaml.Node | None]:
    data, root = read_yaml(path)
    return validate(path, data, root, model), root
