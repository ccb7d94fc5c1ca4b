"""Refuse oversized bodies before parsing them (a 413, nothing read into memory)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.errors import envelope
from hub.api.open311.errors import Open311Error
from hub.api.open311.render import Format, error_response

MAX_BODY_BYTES = 256 * 1024


def too_large(path: str, limit: int) -> Response:
    """In the error format of the API the client called (canonical or Open311)."""
    message = f"请求体超过 {limit} 字节 (body too large)"
    if path.startswith("/open311/"):
        fmt = Format.XML if path.endswith(".xml") else Format.JSON
        return error_response(fmt, Open311Error(413, message))
    return envelope(413, "payload_too_large", message)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_large(scope["path"], self.limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await too_large(scope["path"], self.limit)(scope, receive, send)
