"""pgbench on the same PostgreSQL server, as the yardstick beside step executions/s.

TPC-B-like transactions (pgbench's default script: three UPDATEs, a SELECT and an
INSERT in one transaction) at 2 clients and 2 threads, in a scratch database that is
created here and dropped afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from sqlalchemy.engine import make_url

from bench.scratch import scratch_database
from revflow.db.engine import normalize_url

PGBENCH_CLIENTS, PGBENCH_THREADS = 2, 2


def pgbench_tps(url: str, scale: int = 10, seconds: int = 10) -> tuple[float | None, str]:
    """pgbench's TPS on the server of ``url``; else None and why."""
    exe = shutil.which("pgbench")
    if exe is None:
        return None, "pgbench not found on PATH"
    try:
        with scratch_database(url, "pgbench") as scratch:
            return _run(exe, scratch, scale, seconds)
    except Exception as exc:
        return None, f"scratch database: {type(exc).__name__}: {exc}"


def _run(exe: str, url: str, scale: int, seconds: int) -> tuple[float | None, str]:
    u = make_url(normalize_url(url))
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    conn = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432)]
    if u.username:
        conn += ["-U", u.username]
    init = subprocess.run(
        [exe, "-i", "-q", "-s", str(scale), *conn, str(u.database)],
        env=env,
        capture_output=True,
        text=True,
    )
    if init.returncode:
        return None, f"pgbench -i failed: {init.stderr.strip()[-300:]}"
    run = subprocess.run(
        [exe, "-c", str(PGBENCH_CLIENTS), "-j", str(PGBENCH_THREADS), "-T", str(seconds)]
        + [*conn, str(u.database)],
        env=env,
        capture_output=True,
        text=True,
    )
    found = re.search(r"tps = ([0-9.]+)", run.stdout)
    if run.returncode or not found:
        return None, f"pgbench failed: {(run.stderr or run.stdout).strip()[-300:]}"
    return float(found.group(1)), ""


def describe(scale: int, seconds: int) -> str:
    return f"scale={scale} clients={PGBENCH_CLIENTS} threads={PGBENCH_THREADS} seconds={seconds}"
