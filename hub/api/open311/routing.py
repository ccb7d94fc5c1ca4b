"""A route class that answers every failure under /open311 with an Open311 error list.

FastAPI's own validation (422) and HTTP errors (e.g. a malformed multipart body) are caught
inside the route, so the app-wide canonical handlers never see Open311 requests.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from hub.api.open311.errors import Open311Error, from_validation
from hub.api.open311.render import error_response, format_of

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _from_http(exc: HTTPException) -> Open311Error:
    detail = exc.detail if isinstance(exc.detail, str) else "请求无效 (invalid request)"
    return Open311Error(exc.status_code, detail, headers=exc.headers)


class Open311Route(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Open311Error as exc:
                error = exc
            except RequestValidationError as exc:
                error = from_validation(exc.errors())
            except HTTPException as exc:
                error = _from_http(exc)
            return error_response(format_of(request), error)

        return guarded


def no_such_resource(request: Request, routes: Iterable[BaseRoute]) -> Open311Error:
    """405 when another Open311 route has this path, 404 otherwise."""
    allowed = sorted(
        method
        for route in routes
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] is Match.PARTIAL
        for method in route.methods
    )
    if allowed:
        return Open311Error(
            405,
            f"不支持 {request.method} 方法 (method not allowed); "
            f"可用 (allowed): {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    return Open311Error(
        404,
        "没有这个 Open311 资源，路径须以 .json 或 .xml 结尾 "
        "(no such Open311 resource; paths end in .json or .xml)",
    )
