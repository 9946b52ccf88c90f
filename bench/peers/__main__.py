"""Revflow, DBOS Transact and pgbench side by side on one PostgreSQL server.

    python -m bench.peers [--database-url URL] [--plans 2000] [--concurrency 8,32]
        [--repeat 3] [--dbos-modes direct,threads[,queue]] [--create-batch 100]

Each engine runs the benches' 5-step workflow (bench/workflow.py: validate, then four
dependent callouts to an instant connector) ``--plans`` times, ``--concurrency``
workflows at once, in one process, against its own scratch database on the server
of ``--database-url`` (or ``REVFLOW_BENCH_DATABASE_URL``); every scratch database is
dropped at the end, also on error.

- Revflow: bench_steps' run, one worker process with ``concurrency`` = N; its figure
  counts plan creation (``--create-batch`` plans per transaction) and execution.
- DBOS: bench/peers/dbos_run.py in a fresh process, in each of ``--dbos-modes``; its
  figure counts starting (or enqueueing) the workflows and running them.
- pgbench: TPC-B-like at 2 clients, 2 threads (bench/pgbench.py).

The three take turns in every repeat, so a busy moment on the machine falls on all
of them.  Prints steps/s per engine (median and min-max over the repeats), the
ratios, and one JSON line.  DBOS is the optional ``peers`` extra (``pip install -e
'.[peers]'``); without it the DBOS part is skipped, saying so.  Figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from typing import Any

from bench import workflow
from bench.bench_steps import run_steps, spread
from bench.pgbench import describe, pgbench_tps
from bench.scratch import is_postgresql, scratch_database
from revflow.db.engine import normalize_url

NO_DBOS = "the 'dbos' package is not installed (pip install -e '.[peers]')"


def dbos_installed() -> bool:
    try:
        import dbos  # noqa: F401
    except ImportError:
        return False
    return True


def dbos_steps_per_s(server: str, workflows: int, concurrency: int, mode: str) -> float:
    """One DBOS run in a fresh process on a scratch database; its steps per second."""
    with scratch_database(server, f"dbos_{mode}") as url:
        done = subprocess.run(
            [sys.executable, "-m", "bench.peers.dbos_run", url, str(workflows)]
            + [str(concurrency), mode],
            capture_output=True,
            text=True,
        )
    if done.returncode:
        raise RuntimeError(f"dbos ({mode}) failed: {done.stderr.strip()[-600:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    expected = workflows * workflow.STEPS_PER_WORKFLOW
    if result["steps"] != expected:
        raise RuntimeError(f"dbos ({mode}) ran {result['steps']} steps, not {expected}")
    return float(result["steps"]) / float(result["elapsed_s"])


def revflow_steps_per_s(
    server: str, plans: int, concurrency: int, create_batch: int
) -> tuple[float, float]:
    """One Revflow run; steps per second with plan creation, and without."""
    with scratch_database(server, "revflow") as url:
        run = run_steps(url, plans, 1, concurrency, create_batch)
    expected = plans * workflow.STEPS_PER_WORKFLOW
    if run.executed != expected:
        raise RuntimeError(f"revflow executed {run.executed} steps, not {expected}")
    return run.per_s, run.run_per_s


def ratio(a: list[float], b: list[float]) -> dict[str, float]:
    """a/b: medians' ratio, and the lowest and highest of the repeats' own ratios."""
    pairs = [x / y for x, y in zip(a, b, strict=False) if y]
    return {
        "median": round(statistics.median(a) / statistics.median(b), 2),
        "min": round(min(pairs), 2),
        "max": round(max(pairs), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    ap.add_argument("--plans", type=int, default=2000, help="workflows per engine and run")
    ap.add_argument(
        "--concurrency",
        default="8,32",
        help="workflows at once, comma separated (default 8,32: the issue's figure and "
        "Revflow's default worker.concurrency)",
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dbos-modes", default="direct,threads", help="and/or queue")
    ap.add_argument("--create-batch", type=int, default=100, help="Revflow plans per txn")
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    ap.add_argument("--pgbench-scale", type=int, default=10)
    args = ap.parse_args()
    if not is_postgresql(args.database_url):
        sys.exit(
            "bench.peers needs PostgreSQL: pass --database-url "
            "postgresql+asyncpg://user@host/db or set REVFLOW_BENCH_DATABASE_URL"
        )
    server = normalize_url(args.database_url)
    levels = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    modes = [m for m in args.dbos_modes.split(",") if m.strip()]
    if modes and not dbos_installed():
        print(f"dbos: skipped ({NO_DBOS})")
        modes = []
    figures: dict[str, list[float]] = {"pgbench": []}
    for n in range(args.repeat):
        tps, why = pgbench_tps(server, args.pgbench_scale, args.pgbench_seconds)
        if tps is None:
            print(f"pgbench: skipped ({why})")
        else:
            figures["pgbench"].append(tps)
        for c in levels:
            with_creation, run_only = revflow_steps_per_s(server, args.plans, c, args.create_batch)
            figures.setdefault(f"revflow@{c}", []).append(with_creation)
            figures.setdefault(f"revflow_run_only@{c}", []).append(run_only)
            for mode in modes:
                figures.setdefault(f"dbos_{mode}@{c}", []).append(
                    dbos_steps_per_s(server, args.plans, c, mode)
                )
        done = " ".join(f"{k}={v[-1]:.0f}" for k, v in figures.items() if len(v) > n)
        print(f"repeat {n + 1}/{args.repeat}: {done}", flush=True)
    report(args, levels, figures)


def report(args: argparse.Namespace, levels: list[int], figures: dict[str, list[float]]) -> None:
    pgbench = figures["pgbench"]
    if pgbench:
        print(
            f"pgbench: {describe(args.pgbench_scale, args.pgbench_seconds)} tps={spread(pgbench)}"
        )
    ratios: dict[str, dict[str, float]] = {}
    for c in levels:
        setting = f"concurrency={c} workflows={args.plans} steps_each={workflow.STEPS_PER_WORKFLOW}"
        revflow = figures[f"revflow@{c}"]
        print(
            f"revflow: {setting} steps_per_s={spread(revflow)} (plan creation counted; "
            f"execution alone {spread(figures[f'revflow_run_only@{c}'])})"
        )
        dbos = {k: v for k, v in figures.items() if k.startswith("dbos_") and k.endswith(f"@{c}")}
        for name, values in dbos.items():
            print(f"dbos[{name[5:].split('@')[0]}]: {setting} steps_per_s={spread(values)}")
        for name, values in dbos.items():
            ratios[f"revflow/{name}"] = ratio(revflow, values)
        if dbos:
            best = max(dbos, key=lambda k: statistics.median(dbos[k]))
            ratios[f"revflow/dbos_best@{c}"] = ratio(revflow, dbos[best])
        if pgbench:
            ratios[f"revflow@{c}/pgbench"] = ratio(revflow, pgbench)
            for name, values in dbos.items():
                ratios[f"{name}/pgbench"] = ratio(values, pgbench)
    for name, r in ratios.items():
        print(f"ratio {name}={r['median']:.2f} (repeats {r['min']:.2f}-{r['max']:.2f})")
    rounded = {k: [round(x, 1) for x in v] for k, v in figures.items()}
    setting_json = {k: v for k, v in vars(args).items() if k != "database_url"}
    print(json.dumps({"setting": setting_json, "steps_per_s": rounded, "ratios": ratios}))


if __name__ == "__main__":
    main()
