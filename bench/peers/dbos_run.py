"""The 5-step workflow on DBOS Transact, run in a process of its own.

    python -m bench.peers.dbos_run URL WORKFLOWS CONCURRENCY {direct,queue,threads}

``URL`` is an empty PostgreSQL database for DBOS's system tables.  The same five
steps as bench/workflow.py: ``validate`` checks the mapped document, the four
callouts call the same instant connector, each step a ``@DBOS.step``, the five in
one ``@DBOS.workflow``.  Concurrency, as in Revflow's worker, is how many workflows
run at once:

- ``direct``: ``DBOS.start_workflow_async`` with at most CONCURRENCY workflows in
  flight (DBOS's quickest path: no queue polling);
- ``queue``: all workflows enqueued on a DBOS queue with ``worker_concurrency`` =
  CONCURRENCY, polled every 10 ms;
- ``threads``: the same steps as plain (sync) functions, CONCURRENCY threads each
  running one workflow at a time (DBOS's synchronous API; the callouts call the
  instant connector's answer function directly, as there is no event loop).

The clock starts after ``DBOS.launch()`` (its migrations and start-up are not timed)
and stops when every workflow's result is in; starting/enqueueing the workflows, like
Revflow's plan creation, is inside it.  Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dbos import DBOS, DBOSConfig
from sqlalchemy.engine import make_url

from bench import workflow
from revflow.connectors.base import CallContext

QUEUE = "revflow_peers"
MODES = ("direct", "queue", "threads")
connector = workflow.instant_connector()
answers: list[str] = []  # the threads mode's callouts (list.append is atomic)


@DBOS.step()
async def validate(order: dict[str, Any]) -> dict[str, Any]:
    document = workflow.document(order)
    if not document.get("external_id"):
        raise ValueError("the document has no external_id")
    return document


@DBOS.step()
async def callout(action: str, key: str, document: dict[str, Any]) -> str | None:
    ctx = CallContext(
        idempotency_key=key, correlation_id=key, attempt=1, action=action, timeout_s=30.0
    )
    result = await connector.call(action, document, ctx)
    return result.external_id


@DBOS.workflow()
async def five_steps(order: dict[str, Any]) -> list[str | None]:
    document = await validate(order)
    ids = []
    for key, action in workflow.CALLOUTS:
        ids.append(await callout(action, f"{DBOS.workflow_id}:{key}", document))
    return ids


@DBOS.step()
def callout_sync(action: str, key: str, document: dict[str, Any]) -> str | None:
    ctx = CallContext(
        idempotency_key=key, correlation_id=key, attempt=1, action=action, timeout_s=30.0
    )
    answers.append(key)
    return workflow.answer(action, document, ctx).external_id


@DBOS.step()
def validate_sync(order: dict[str, Any]) -> dict[str, Any]:
    document = workflow.document(order)
    if not document.get("external_id"):
        raise ValueError("the document has no external_id")
    return document


@DBOS.workflow()
def five_steps_sync(order: dict[str, Any]) -> list[str | None]:
    document = validate_sync(order)
    return [
        callout_sync(action, f"{DBOS.workflow_id}:{key}", document)
        for key, action in workflow.CALLOUTS
    ]


def run_threads(workflows: int, concurrency: int) -> None:
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: five_steps_sync(workflow.order(i)), range(workflows)))


async def run_direct(workflows: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            handle = await DBOS.start_workflow_async(five_steps, workflow.order(i))
            await handle.get_result()

    await asyncio.gather(*(one(i) for i in range(workflows)))


async def run_queue(workflows: int) -> None:
    handles = [
        await DBOS.enqueue_workflow_async(QUEUE, five_steps, workflow.order(i))
        for i in range(workflows)
    ]
    for handle in handles:
        await handle.get_result()


def main() -> None:
    url, workflows, concurrency, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    logging.disable(logging.WARNING)
    system_url = make_url(url).set(drivername="postgresql")
    config: DBOSConfig = {
        "name": "revflow-peers",
        "system_database_url": system_url.render_as_string(hide_password=False),
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    if mode == "queue":  # registered in the system database, so after launch
        DBOS.register_queue(QUEUE, worker_concurrency=concurrency, polling_interval_sec=0.01)
    try:
        started = time.monotonic()
        if mode == "queue":
            asyncio.run(run_queue(workflows))
        elif mode == "threads":
            run_threads(workflows, concurrency)
        else:
            asyncio.run(run_direct(workflows, concurrency))
        elapsed = time.monotonic() - started
    finally:
        DBOS.destroy()
    steps = len(connector.calls) + len(answers) + workflows  # the callouts, and one validate each
    print(json.dumps({"workflows": workflows, "steps": steps, "elapsed_s": elapsed}))


if __name__ == "__main__":
    main()
