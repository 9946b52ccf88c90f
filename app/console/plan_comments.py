"""Comments from the plan page: the form posts here, through the comments service.

    POST /console/plans/{id}/comments    body, format, step (operator)

The author and audit actor is the logged-in identity; mentions tell people through
the alert channels (``revflow.comments.service``).  A refusal (blank, too long, an
unknown step) shows the page again with the reason and the text kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse

from revflow.comments import service
from revflow.console.context import context_of
from revflow.console.pages import PREFIX, Operator, database
from revflow.console.plan_actions import Outcome
from revflow.console.plan_page import plan_page
from revflow.orchestration.errors import BadRequest, NotFound

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1)]
BODY_MAX = 100_000  # the service checks the configured, smaller, limit


def plan_comments_router() -> APIRouter:
    router = APIRouter(prefix=f"{PREFIX}/plans", include_in_schema=False)

    @router.post("/{plan_id}/comments", response_class=HTMLResponse)
    async def add(
        request: Request,
        who: Operator,
        plan_id: PlanId,
        body: Annotated[str, Form(max_length=BODY_MAX)] = "",
        format: Annotated[str, Form(max_length=16)] = "markdown",
        step: Annotated[str, Form(max_length=100)] = "",
    ) -> HTMLResponse:
        author = service.Author(who.subject, who.name)
        try:
            async with database(request).write() as s:
                await service.add_comment(
                    s,
                    plan_id,
                    author,
                    body,
                    fmt=format,
                    step_key=step or None,
                    settings=context_of(request).comments,
                )
        except (BadRequest, NotFound) as exc:
            status = 404 if isinstance(exc, NotFound) else 422
            return await plan_page(
                request, plan_id, error=exc.detail, status_code=status, draft=(body, format, step)
            )
        done = Outcome(plan_id, step or None, "comment", True, "added to the timeline")
        return await plan_page(request, plan_id, outcomes=[done])

    return router
