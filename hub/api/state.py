"""Per-app state and the API-key dependencies (scopes: portal, staff, admin, unit:<code>)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine

from hub.api.errors import ApiError
from hub.config import Settings
from hub.services.catalogue import CatalogueCache
from hub.store.api_keys import ApiKey, find_active_key

API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="作用域 API 密钥")


@dataclass
class HubState:
    settings: Settings
    engine: Engine
    catalogue: CatalogueCache


def hub_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


State = Annotated[HubState, Depends(hub_state)]


def lookup_key(state: HubState, clear: str | None) -> ApiKey | None:
    """None when no key was sent; 401 when one was sent and is unknown or revoked."""
    if not clear:
        return None
    with state.engine.connect() as conn:
        key = find_active_key(conn, clear)
    if key is None:
        raise ApiError(401, "invalid_api_key", "API 密钥无效或已吊销 (invalid or revoked API key)")
    return key


def optional_key(
    state: State, clear: Annotated[str | None, Depends(_header)] = None
) -> ApiKey | None:
    return lookup_key(state, clear)


OptionalKey = Annotated[ApiKey | None, Depends(optional_key)]


def require(key: ApiKey | None, *scopes: str, unit: bool = False) -> ApiKey:
    """401 without a key; 403 when the key's scope is not among those allowed."""
    if key is None:
        raise ApiError(401, "missing_api_key", f"缺少 {API_KEY_HEADER} 请求头 (API key required)")
    if key.scope in scopes or (unit and key.unit_code is not None):
        return key
    allowed = list(scopes) + (["unit:<code>"] if unit else [])
    raise ApiError(
        403,
        "forbidden_scope",
        f"此 API 密钥的权限范围 {key.scope!r} 不允许该操作 (scope not allowed)",
        {"allowed_scopes": allowed},
    )
