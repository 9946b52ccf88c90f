"""A callout step's external id: the step's own expression, and saying when none came.

A plan step may say where its id sits in the connector's answer (``external_id``,
a JMESPath expression; ``revflow.connectors.external_id``); it overrides the connector's.
A completed callout whose id matters (it writes the ERP number, or names an
expression) but whose 2xx answer held none gets a warning and an audit entry on
the step, instead of silently writing nothing back.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.orchestration.executor import ClaimedStep, Outcome, StepResult
from revflow.plans.definitions import StepDefinition

log = logging.getLogger("revflow.worker")

ANSWER_LIMIT = 2000  # characters of the answer kept in the audit


def apply_step_expression(sd: StepDefinition | None, step: ClaimedStep, result: StepResult) -> None:
    """Find the id in a completed callout's answer with the step's own expression."""
    if sd is None or sd.external_id is None or step.kind != "callout":
        return
    if result.outcome is not Outcome.COMPLETED:
        return
    found = sd.external_id.find(result.output.get("response"))
    result.external_id = found
    result.output["external_id"] = found


def note_missing(
    s: AsyncSession, sd: StepDefinition | None, step: ClaimedStep, result: StepResult
) -> None:
    """Audit (and log) a completed callout that should have given an id and did not."""
    if sd is None or step.kind != "callout" or result.outcome is not Outcome.COMPLETED:
        return
    if result.external_id or not (sd.writes_erp_number or sd.external_id is not None):
        return
    expression = sd.external_id.expression if sd.external_id else "the connector's"
    answer = json.dumps(result.output.get("response"), default=str)[:ANSWER_LIMIT]
    log.warning(
        "the answer holds no external id; nothing to write back",
        extra={"step": step.key, "order_id": step.order_id, "expression": expression},
    )
    audit.record(
        s,
        "worker",
        "step.external_id_missing",
        plan_id=step.plan_id,
        order_id=step.order_id,
        correlation_id=step.correlation_id,
        step=step.key,
        expression=expression,
        status_code=result.status_code,
        answer=answer,
    )
