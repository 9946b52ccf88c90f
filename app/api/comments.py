"""Comments on plans and steps.

    GET  /api/plans/{plan_id}/comments[?step=KEY]   oldest first                viewer
    POST /api/plans/{plan_id}/comments              {"body", "format"?, "step"?} operator

The author and audit actor is the authenticated identity.  An unknown plan or step
is 404; a blank or over-long body or an unknown format is 400 (422 for a body of the
wrong shape).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from revflow.api.schemas import AUTH_ERRORS, Problem
from revflow.comments import service
from revflow.comments.schemas import CommentAddedOut, CommentIn, CommentOut, comment_out
from revflow.comments.settings import CommentSettings
from revflow.db.database import Database
from revflow.security.dependencies import require
from revflow.security.identity import Identity, Role

Viewer = Depends(require(Role.VIEWER))
Operator = Annotated[Identity, Depends(require(Role.OPERATOR))]
PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a plan's id")]
ERRORS: dict[int | str, dict[str, Any]] = {
    **{code: {"model": Problem} for code in (400, 404)},
    **AUTH_ERRORS,
}


def comments_router(db: Database, settings: CommentSettings) -> APIRouter:
    router = APIRouter(prefix="/api/plans", tags=["comments"], responses=ERRORS)

    @router.get("/{plan_id}/comments", response_model=list[CommentOut], dependencies=[Viewer])
    async def list_comments(
        plan_id: PlanId,
        step: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    ) -> list[CommentOut]:
        """A plan's comments (or one step's), oldest first, with their safe HTML."""
        async with db.read() as s:
            rows = await service.comments_of(s, plan_id, step)
            return [comment_out(c) for c in rows]

    @router.post("/{plan_id}/comments", response_model=CommentAddedOut, status_code=201)
    async def add_comment(plan_id: PlanId, body: CommentIn, who: Operator) -> CommentAddedOut:
        """Comment on a plan or a step; ``@name`` mentions tell those people."""
        author = service.Author(who.subject, who.name)
        async with db.write() as s:
            added = await service.add_comment(
                s, plan_id, author, body.body, fmt=body.format, step_key=body.step,
                settings=settings,
            )  # fmt: skip
            out = comment_out(added.comment)
        return CommentAddedOut(**out.model_dump(), unknown_mentions=added.unknown_mentions)

    return router
