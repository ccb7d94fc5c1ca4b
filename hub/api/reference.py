"""Public reference data: org units, portal sections and categories, code lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.errors import ApiError
from hub.api.state import State
from hub.model.codes import ALL_CODE_LISTS, OrgTier

router = APIRouter(prefix="/api/v1", tags=["reference 基础数据"])


@router.get("/org-units", summary="组织机构 Org units")
def org_units(
    state: State,
    tier: Annotated[str | None, Query()] = None,
    parent: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    if tier is not None and tier not in {t.value for t in OrgTier}:
        raise ApiError(
            422,
            "validation_error",
            f"tier 取值无效 (unknown tier): {tier}",
            [{"field": "tier", "reason": "unknown tier"}],
        )
    units = state.catalogue.get().units.values()
    items = [
        {**u.model_dump(mode="json"), "tier_label": u.tier.label}
        for u in units
        if (tier is None or u.tier == tier) and (parent is None or u.parent == parent)
    ]
    return {"items": sorted(items, key=lambda u: u["code"])}


@router.get("/categories", summary="栏目与诉求类别 Sections and categories")
def categories(
    state: State, section: Annotated[str | None, Query(max_length=32)] = None
) -> dict[str, Any]:
    catalogue = state.catalogue.get()
    if section is not None and section not in catalogue.sections:
        raise ApiError(404, "not_found", f"栏目不存在 (unknown section): {section}")
    return {
        "sections": [s.model_dump(mode="json") for s in catalogue.sections.values()],
        "items": [
            c.model_dump(mode="json")
            for c in catalogue.categories.values()
            if section is None or c.section == section
        ],
    }


@router.get("/code-lists", summary="代码表 Code lists with Chinese labels")
def code_lists() -> dict[str, Any]:
    return {name: codes.choices() for name, codes in ALL_CODE_LISTS.items()}
