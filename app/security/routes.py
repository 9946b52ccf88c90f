"""Which role each route needs, read from the app itself (for the docs table and tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from revflow.security.dependencies import needed_role
from revflow.security.identity import Role


@dataclass(frozen=True)
class RouteRole:
    method: str
    path: str
    role: Role | None  # None: no identity needed


def _role_of(dependant: Dependant) -> Role | None:
    for dep in dependant.dependencies:
        role = needed_role(dep.call) or _role_of(dep)
        if role is not None:
            return role
    return None


def _api_routes(app: FastAPI) -> Iterator[tuple[str, set[str], Dependant]]:
    """(path, methods, dependant) of every API route, included routers too."""
    contexts = getattr(routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before lazily included routers: a flat list
        for route in app.routes:
            if isinstance(route, APIRoute):
                yield route.path, set(route.methods or ()), route.dependant
        return
    for ctx in contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute):
            yield ctx.path, set(ctx.methods or ()), ctx.dependant


def route_roles(app: FastAPI) -> list[RouteRole]:
    """Every API route with the role it needs, sorted by path then method."""
    out = [
        RouteRole(method, path, _role_of(dependant))
        for path, methods, dependant in _api_routes(app)
        for method in sorted(methods - {"HEAD"})
    ]
    return sorted(out, key=lambda r: (r.path, r.method))
