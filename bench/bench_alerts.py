"""Alerts: raising them in a transaction, and sending them through the delivery loop.

    python -m bench.bench_alerts [--alerts 500] [--database-url URL]

Prints (1) transactions/s that raise an alert for an event no rule wants (what every
state change pays when alerts are configured but quiet), (2) transactions/s that open
a new alert with two deliveries, (3) transactions/s that repeat an open alert (count
only), and (4) messages/s the delivery loop sends to a real SMTP server on loopback
(aiosmtpd). Without a URL it runs on a scratch SQLite file;
a PostgreSQL URL names the server: the run
uses a scratch database beside the named one and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.scratch import scratch_database
from revflow.alerts import service
from revflow.alerts.channels.email import EmailChannel
from revflow.alerts.delivery import AlertDeliverer
from revflow.alerts.events import AlertEvent
from revflow.alerts.message import EventKind
from revflow.alerts.rules_file import compile_rules
from revflow.alerts.runtime import AlertRuntime, install
from revflow.alerts.settings import AlertSettings, EmailChannelSettings
from revflow.db.database import Database
from revflow.db.migrate import upgrade
from revflow.links import ConsoleSettings
from tests.alerts.smtpkit import smtp_server

RULES = """\
teams:
  ops: {email: ops@example.com}
  finance: {email: finance@example.com}
rules:
  - name: fallout
    events: step_fallout
    notify: [{to: team:ops, via: email}, {to: team:finance, via: email}]
"""


def event(kind: EventKind, n: int) -> AlertEvent:
    return AlertEvent(
        kind,
        f"plan:{n}",
        "Step s failed on order {order}",
        "s",
        order_id="8015e00000Q7mNpAAJ",
        order={"OrderNumber": str(n)},
        error_class="FatalError",
        error_message="boom",
    )


async def per_s(db: Database, n: int, kind: EventKind, subject_of: int | None) -> float:
    start = time.perf_counter()
    for i in range(n):
        async with db.write() as s:
            await service.raise_alert(s, event(kind, i if subject_of is None else subject_of))
    return n / (time.perf_counter() - start)


async def main(n: int, url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    ruleset, problems = compile_rules(RULES)
    assert ruleset is not None, problems
    install(AlertRuntime(ruleset, ConsoleSettings(public_url="https://revflow.example.com")))
    try:
        quiet = await per_s(db, n, EventKind.LOOP_DOWN, None)
        opened = await per_s(db, n, EventKind.STEP_FALLOUT, None)
        repeated = await per_s(db, n, EventKind.STEP_FALLOUT, 0)
        with smtp_server() as smtp:
            settings = AlertSettings(
                email=EmailChannelSettings(host="127.0.0.1", port=smtp.port), batch_size=50
            )
            loop = AlertDeliverer(db, {"email": EmailChannel(settings.email)}, settings)
            start = time.perf_counter()
            while await loop.tick():
                pass
            sent = len(smtp.messages)
            elapsed = time.perf_counter() - start
        print(f"database: {url.split('://')[0]}")
        print(f"raise, no rule for the event: {quiet:8.0f} tx/s")
        print(f"raise, new alert + 2 deliveries: {opened:8.0f} tx/s")
        print(f"raise, repeat of an open alert: {repeated:8.0f} tx/s")
        print(f"delivery loop to SMTP (loopback): {sent / elapsed:8.0f} messages/s ({sent} sent)")
    finally:
        install(None)
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with scratch_database(args.database_url, "alerts") as url:
        asyncio.run(main(args.alerts, url))
