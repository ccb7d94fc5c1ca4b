"""OrgUnit and the portal/dispatch reference data loaded from policies/."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from hub.model.base import Canonical, matching
from hub.model.codes import OrgTier
from hub.model.validators import RegionCode

UnitCode = Annotated[
    str,
    matching(
        r"^[A-Z][A-Z0-9-]{1,31}$",
        "单位/类别编码须为大写字母、数字和横线 (code must match ^[A-Z][A-Z0-9-]+$)",
    ),
]
SectionCode = Annotated[
    str,
    matching(
        r"^[a-z][a-z0-9_]{1,31}$",
        "栏目编码须为小写字母、数字和下划线 (section code must be snake_case)",
    ),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class OrgUnit(Canonical):
    code: UnitCode
    name: Name
    short_name: Name | None = None
    tier: OrgTier
    parent: UnitCode | None = None
    region_codes: list[RegionCode] = Field(default_factory=list)
    connector: str | None = None
    contact_phone: str | None = None
    duties: list[str] = Field(default_factory=list)


class PortalSection(Canonical):
    code: SectionCode
    name: Name
    order: int
    description: str | None = None


class AttributeValueOption(Canonical):
    key: str
    name: str


class ServiceAttribute(Canonical):
    """An extra question a category asks (an Open311 service-definition attribute)."""

    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    description: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    variable: bool = True
    order: int = 1
    datatype_description: str | None = None
    values: list[AttributeValueOption] = Field(default_factory=list)


class Category(Canonical):
    """A dispatch-catalogue category (派单目录类别), offered as an Open311 service."""

    code: UnitCode
    name: Name
    section: SectionCode
    group: str | None = None
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    lead_unit: UnitCode | None = None
    co_units: list[UnitCode] = Field(default_factory=list)
    tier: OrgTier = OrgTier.DEPARTMENT
    attributes: list[ServiceAttribute] = Field(default_factory=list)


class Hotline(Canonical):
    number: Annotated[str, StringConstraints(pattern=r"^\d{3,8}$")]
    name: Name
    default_category: UnitCode | None = None
    default_unit: UnitCode | None = None
