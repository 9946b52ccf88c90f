"""HTTP answers for domain errors: the mapping lives here, at the edge.

    OperatorError (revflow.orchestration.errors)
     ├── BadRequest   -> 400
     ├── NotFound     -> 404
     └── Conflict     -> 409

``install(api)`` answers any ``OperatorError`` a route lets through with its status
and ``{"detail": ...}``, as ``HTTPException`` does.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from revflow.orchestration.errors import BadRequest, Conflict, NotFound, OperatorError

STATUS: dict[type[OperatorError], int] = {BadRequest: 400, NotFound: 404, Conflict: 409}


def http_status(exc: OperatorError) -> int:
    """The HTTP status for a refused action (400 for one not listed)."""
    return next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)


def http_error(exc: OperatorError) -> HTTPException:
    return HTTPException(http_status(exc), exc.detail)


def install(api: FastAPI) -> None:
    """Answer refused actions with their status and detail."""

    @api.exception_handler(OperatorError)
    async def _refused(_req: Request, exc: OperatorError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, http_status(exc))
