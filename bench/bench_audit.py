"""The cost of the audit hash chain, verify and key rotation.

    python -m bench.bench_audit [--commits 2000] [--writers 16] [--database-url URL]

Prints commits/s of short transactions that each write one audit entry (chained: the
head row is locked at commit) beside the same transactions writing one dead letter
(no chain), both with ``--writers`` concurrent writers; then entries/s checked by
``verify`` and values/s re-wrapped by key rotation (snapshots, payload encryption on).
Without a URL it runs on a scratch SQLite file; a PostgreSQL URL names the server: the
run uses a scratch database beside the named one and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.scratch import scratch_database
from revflow import audit
from revflow.audit.verify import verify
from revflow.db import encrypted
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.db.models import DeadLetter, OrderSnapshot
from revflow.security.keyring import Keyring, generate_key
from revflow.vault.rotation import ColumnKeys, columns, rotate_page


async def commits_per_s(
    db: Database, commits: int, writers: int, write: Callable[[AsyncSession, int], None]
) -> float:
    per = commits // writers

    async def writer(w: int) -> None:
        for i in range(per):
            async with db.write() as s:
                write(s, w * per + i)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return per * writers / (time.perf_counter() - start)


async def main(url: str, commits: int, writers: int) -> None:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        async with db.read() as s:
            if await s.scalar(text("SELECT count(*) FROM audit_log")):
                raise SystemExit("bench_audit needs an empty database (it rotates every value)")
        chained = await commits_per_s(
            db, commits, writers, lambda s, i: audit.record(s, "bench", "bench.write", n=i)
        )
        plain = await commits_per_s(
            db,
            commits,
            writers,
            lambda s, i: s.add(DeadLetter(source="bench", reason="r", payload={"n": i})),
        )
        start = time.perf_counter()
        async with db.read() as s:
            verdict = await verify(s)
        verify_rate = verdict.entries / (time.perf_counter() - start)
        assert verdict.ok, verdict.problems

        old, new = generate_key(), generate_key()
        encrypted.configure(Keyring([old]), encrypt_payloads=True)
        async with db.write() as s:
            s.add_all(
                OrderSnapshot(order_id=f"801{i:015d}"[:18], record={"n": i, "lines": [1, 2, 3]})
                for i in range(commits)
            )
        ring = Keyring([new, old])
        tally, after, start = ColumnKeys("order_snapshots.record"), None, time.perf_counter()
        col = next(c for c in columns() if c.table.name == "order_snapshots")
        while True:
            async with db.write() as s:
                after = await rotate_page(s, ring, col, after, 500, tally)
            if after is None:
                break
        rotate_rate = tally.rotated / (time.perf_counter() - start)
        async with db.read() as s:
            backend = (await s.execute(text("SELECT 1"))).scalar() and db.engine.dialect.name
    finally:
        await db.dispose()
    print(f"database: {backend}, {writers} writers, {commits} commits each run")
    print(f"  commits/s with one audit entry (chained): {chained:8.0f}")
    print(f"  commits/s with one dead letter (no chain): {plain:8.0f}")
    print(f"  audit verify: {verify_rate:8.0f} entries/s ({verdict.entries} entries)")
    print(f"  key rotation: {rotate_rate:8.0f} values/s re-wrapped ({tally.rotated} snapshots)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with scratch_database(args.database_url, "audit") as url:
        asyncio.run(main(url, args.commits, args.writers))
