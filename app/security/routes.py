"""Which role each route needs, read from the app itself (for the docs table and tests)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
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


def route_roles(app: FastAPI) -> list[RouteRole]:
    """Every API route with the role it needs, sorted by path then method."""
    out = [
        RouteRole(method, route.path, _role_of(route.dependant))
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]
    return sorted(out, key=lambda r: (r.path, r.method))
