"""The benches' 5-step workflow is five dependent steps, each callout once, in order."""

from __future__ import annotations

from sqlalchemy import select

from bench import workflow
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.models import Plan, PlanState, Step, StepState
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.plans import create_plan
from revflow.orchestration.worker import Worker
from revflow.plans.decompose import decompose


async def test_a_plan_runs_its_five_steps_one_after_another(db: Database) -> None:
    definition = workflow.five_step_plan()
    order = workflow.order(1)
    async with db.write() as s:
        draft = decompose(definition, order, workflow.mappings())
        await create_plan(s, draft, order, WritebackSettings())
    connector = workflow.instant_connector()
    worker = Worker(
        db,
        StepExecutor({workflow.CONNECTOR: connector}),
        {definition.name: definition},
        WritebackSettings(),
        concurrency=8,
    )
    assert await worker.run_until_idle() == workflow.STEPS_PER_WORKFLOW
    assert [action for action, _, _ in connector.calls] == [a for _, a in workflow.CALLOUTS]
    async with db.read() as s:
        plan = (await s.scalars(select(Plan))).one()
        states = set((await s.scalars(select(Step.state))).all())
    assert plan.state == PlanState.COMPLETED
    assert states == {StepState.COMPLETED}
