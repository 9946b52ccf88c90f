"""``405 Method Not Allowed`` with an ``Allow`` header naming every method of the path.

Starlette answers 405 from the first route whose path matches, so a path served by
two routes (``GET`` and ``POST /api/plans/{id}/comments``) would say ``Allow: GET``
alone.  This handler lists the methods of all routes matching the path.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from revflow.security.routes import route_roles


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of every API route whose path pattern matches ``path``."""
    methods: set[str] = set()
    for route in route_roles(app):  # included routers too, whatever FastAPI's version
        if compile_path(route.path)[0].match(path):
            methods.add(route.method)
    return sorted(methods)


def install(api: FastAPI) -> None:
    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            methods = allowed_methods(api, request.url.path)
            if methods:
                headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
                exc = StarletteHTTPException(405, exc.detail, headers=headers)
        return await http_exception_handler(request, exc)
