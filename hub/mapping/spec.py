"""The mapping file as written: pydantic models that only check shape.

Anything that needs compiling (paths, transforms, zones, targets) is checked by the
compiler, which knows the file and line; here unknown keys and wrong value types are
caught by pydantic and located by hub.yamlconf.load_model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["FieldSpec", "MappingSpec", "PairsSpec"]

TypeName = Literal["str", "int", "float", "bool", "decimal", "datetime", "date"]
MaskKind = Literal["phone", "id", "name", "email", "text"]


def _no_bool_keys(table: Any) -> Any:
    """YAML 1.1 reads an unquoted ``no:``/``yes:``/``on:``/``off:`` key as a boolean."""
    if isinstance(table, dict) and any(isinstance(key, bool) for key in table):
        raise ValueError(
            "键 yes/no/on/off/true/false 须加引号，否则 YAML 会读成布尔值 "
            "(quote keys such as 'no': YAML reads them as booleans)"
        )
    return table


def _text_keys(table: Any) -> Any:
    """YAML reads ``0:`` as an integer key; codes are compared as text, so store text."""
    if isinstance(_no_bool_keys(table), dict):
        return {str(key): value for key, value in table.items()}
    return table


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Spec):
    """One target field. A bare string is short for ``{path: <string>}``."""

    path: str | None = None
    concat: list[str] | None = Field(default=None, min_length=1)
    const: Any = None
    list_of_pairs: PairsSpec | None = None
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    map: dict[str, Any] | None = None
    code_table: str | None = None
    type: TypeName | None = None
    format: str | list[str] | None = None
    tz: str | None = None
    mask: MaskKind | None = None
    default: Any = None
    required: bool = False
    when: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _path_shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, table: Any) -> Any:
        return _text_keys(table)

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [
            key
            for key in ("path", "concat", "const", "list_of_pairs")
            if key in self.model_fields_set
        ]
        if len(given) > 1:
            raise ValueError(
                f"path、concat、const、list_of_pairs 只能选一个 (choose one source, got {given})"
            )
        if not given and "default" not in self.model_fields_set:
            raise ValueError(
                "须给出 path、concat、const、list_of_pairs 或 default "
                "(a field needs a source: path, concat, const, list_of_pairs or default)"
            )
        return self


class PairsSpec(_Spec):
    """A list of {name, value} objects, as Weaver's mainTable (fieldName / fieldValue)."""

    name_key: str = "fieldName"
    value_key: str = "fieldValue"
    fields: dict[str, FieldSpec] = Field(min_length=1)

    _field_keys = field_validator("fields", mode="before")(_no_bool_keys)


class MappingSpec(_Spec):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    description: str | None = None
    direction: Literal["inbound", "outbound"]
    source: Literal["xml", "json", "row", "canonical"]
    target: str
    namespaces: dict[str, str] = Field(default_factory=dict)
    record: str | None = None
    code_tables: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fields: dict[str, FieldSpec] = Field(min_length=1)

    _field_keys = field_validator("fields", mode="before")(_no_bool_keys)

    @field_validator("code_tables", mode="before")
    @classmethod
    def _table_keys(cls, tables: Any) -> Any:
        if isinstance(tables, dict):
            return {name: _text_keys(table) for name, table in tables.items()}
        return tables


FieldSpec.model_rebuild()
