"""`POST /api/v1/callbacks/{connector}`: department systems push status changes, signed.

No API key: the HMAC signature with the connector's own secret is the credential.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hub.api.errors import ApiError
from hub.api.state import State
from hub.services.callbacks import CallbackRefused, receive

router = APIRouter(prefix="/api/v1/callbacks", tags=["callbacks 部门系统回调"])


@router.post(
    "/{connector}",
    summary="部门系统状态推送 Signed status push from a department system",
    description=(
        "请求头 X-Hub-Timestamp（Unix 秒）、X-Hub-Nonce（8–64 位一次性随机串）、"
        "X-Hub-Signature: sha256=HMAC-SHA256(密钥, 时间戳.随机串.请求体)。"
        " Headers: timestamp, nonce, and the HMAC-SHA256 signature over "
        '"timestamp.nonce." + body with the connector\'s callback secret.'
    ),
)
async def callback(connector: str, request: Request, state: State) -> dict[str, Any]:
    body = await request.body()
    runtime = state.runtime()
    headers = dict(request.headers)
    canonical = {k.lower(): v for k, v in headers.items()}
    named = {
        "X-Hub-Timestamp": canonical.get("x-hub-timestamp", ""),
        "X-Hub-Nonce": canonical.get("x-hub-nonce", ""),
        "X-Hub-Signature": canonical.get("x-hub-signature", ""),
    }
    try:
        result = await state.run(
            lambda: receive(runtime.pool, runtime.clock, connector, named, body)
        )
    except CallbackRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return {"applied": result.applied, "unchanged": result.unchanged, "unknown": result.unknown}
