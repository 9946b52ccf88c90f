"""``revflow demo``'s run: create and activate orders, cancel and amend some, wait for
every Order's final status, and summarise."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from revflow.db.engine import is_sqlite
from revflow.demo.console import ConsoleLogin, console_settings, create_console_user
from revflow.demo.environment import DemoEnvironment
from revflow.demo.report import DemoSummary
from revflow.security.keyring import generate_key


async def run_demo(
    orders: int,
    timeout_s: float = 300.0,
    progress: Callable[[int, int], None] | None = None,
    database_url: str | None = None,
    erp_fail_share: float = 0.0,
    serve_api: bool = False,
    transport: str = "cometd",
    chaos: bool = False,
    seed: int | None = None,
    cancel: int = 0,
    erp: str = "sandbox",
    amend: int = 0,
    quotes: int = 0,
    plan: str | None = None,
    console_port: int | None = None,
    hold: Callable[[DemoSummary, ConsoleLogin], Awaitable[None]] | None = None,
) -> DemoSummary:
    """Create and activate orders, wait for Completed on every Order, summarise.

    ``cancel`` orders get Status=Cancelled shortly after activation; each ends
    Cancelled, or Completed with the refusal text when it was too late.  The next
    ``amend`` orders are amended (see ``DemoEnvironment.amend``: half edited in place,
    half deactivated, given a line and activated again); each ends Completed
    with the ERP's newest sales order matching the amended lines, or Completed with
    the refusal text.  With
    ``chaos``, Revflow runs as a separate process that is killed with SIGKILL
    and restarted at random moments while the org injects its faults, and a validation
    rule of the org refuses status Completed on a tenth of the orders (they end with the
    refusal in their error field, ``writeback_refused``); on PostgreSQL it also reaches
    the database through a proxy that is cut for a few seconds at random moments
    (``database_outage``; an SQLite file has no connection to cut).
    ``erp="tryton"`` runs a real Tryton server (app/sandbox/tryton.py) as the ERP
    instead of the sandbox webhook ERP; ERP counts then come from Tryton's sales.
    ``quotes`` Quotes with lines are approved right after the orders are activated;
    each must end Completed with the ERP's quote number on the Quote.
    ``plan`` runs a shipped plan (by name) or a plan file instead of the built-in plan,
    with a system behind each connector it names (app/demo/systems.py).
    ``console_port``: serve the API and console there (``--serve``), with the shipped
    alert rules sending to the demo's inboxes (an SMTP sink, a Slack-style webhook and
    the sandbox org's notifications); after the summary the chaos stops, a local admin
    is created (``revflow.demo.console``) and ``hold`` gets the summary and its login,
    and keeps everything running until it returns.
    """
    overrides: dict[str, object] = {
        "worker": {"initial_interval_s": 0.2, "maximum_interval_s": 2.0}
    }
    keyring_key = generate_key()  # local users' TOTP seeds, for the console's login
    if console_port is not None:
        overrides |= console_settings(console_port, keyring_key)
    async with DemoEnvironment(
        database_url=database_url,
        erp_fail_share=0.1 if chaos and not erp_fail_share else erp_fail_share,
        serve_api=serve_api or console_port is not None,
        transport=transport,
        separate_process=chaos,
        seed=seed,
        settings_overrides=overrides,
        erp=erp,
        plan=plan,
        database_proxy=chaos and database_url is not None and not is_sqlite(database_url),
        quotes=quotes > 0,
        alerts=console_port is not None,
    ) as env:
        ids = await env.create_orders(orders)
        quote_ids = await env.create_quotes(quotes) if quotes else []
        # with chaos the org's validation rule refuses Completed on the last tenth
        held = ids[len(ids) - _refused_count(len(ids), cancel, amend) :] if chaos else []
        env.refuse_completion(held)
        # served, one plain order falls out for good (the sandbox ERP refuses it): its
        # owner is alerted, and the person at the console has one to fix
        fallout = _fallout(ids, held, cancel, amend) if console_port is not None else []
        if erp == "sandbox":
            env.erp.refused_orders.update(fallout)
        else:
            fallout = []
        started = time.monotonic()
        if chaos:
            env.start_chaos()
        await env.activate(ids)
        await env.approve(quote_ids)
        doomed = ids[: min(cancel, len(ids))]
        if doomed:
            await asyncio.sleep(0.1)
            await env.cancel(doomed)
        changed = ids[len(doomed) : len(doomed) + min(amend, len(ids) - len(doomed))]
        if changed:
            await asyncio.sleep(0.1)
            half = len(changed) // 2  # edited in place, then deactivated, edited, activated
            await env.amend(changed[:half], in_place=True)
            await env.amend(changed[half:])
        plain = ids[len(doomed) + len(changed) : len(ids) - len(held)]
        rest = [o for o in plain if o not in fallout]
        await env.wait_until_done(rest, timeout_s, progress, final=("Completed",))
        await env.wait_until_done(fallout, timeout_s, final=("On Hold",))
        await env.wait_for(held, env.refusal_shown, timeout_s)
        await env.wait_for_cancellations(doomed, timeout_s)
        await env.wait_for(
            changed, lambda o: env.amend_applied(o) or env.amend_refused(o), timeout_s
        )
        await env.wait_for(quote_ids, env.quote_synced, timeout_s)
        elapsed = time.monotonic() - started
        summary = env.add_quotes(env.summary(ids, elapsed), quote_ids)
        summary.cancel_refused = sum(
            env.order_status(o) == "Completed" and env.cancel_settled(o) for o in doomed
        )
        summary.amended = sum(env.amend_applied(o) for o in changed)
        summary.amend_refused = sum(
            env.amend_refused(o) and not env.amend_applied(o) for o in changed
        )
        summary.writeback_refused = sum(env.refusal_shown(o) for o in held)
        summary.fallout = sum(env.order_status(o) == "On Hold" for o in fallout)
        if console_port is not None and hold is not None:
            if chaos:
                await env.stop_chaos()
            login = await create_console_user(env.database_url, keyring_key, console_port)
            await _alerts_arrived(env, len(fallout), timeout_s=30.0)
            await hold(summary, replace(login, notes=alert_notes(env)))
        return summary


async def _alerts_arrived(env: DemoEnvironment, count: int, timeout_s: float) -> None:
    """Give the fallout's alerts (owner: email, Slack, bell) a moment to arrive."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        mails = len(env.mail.mails) if env.mail is not None else count
        if min(mails, len(env.inbox.of("slack")), len(env.org.notifications)) >= count:
            return
        await asyncio.sleep(0.1)


def alert_notes(env: DemoEnvironment) -> tuple[str, ...]:
    """Where the demo's alerts went, and how many so far."""
    if env.inbox_server is None:
        return ()
    mails = (
        f"{len(env.mail.mails)} email(s) to the SMTP sink"
        if env.mail is not None
        else "no email (aiosmtpd is not installed)"
    )
    return (
        f"alerts so far: {mails}, {len(env.inbox.of('slack'))} Slack message(s) "
        f"({env.inbox_server.base_url}/_inbox/messages), {len(env.org.notifications)} "
        f"Salesforce notification(s) ({env.org.instance_url}/_sandbox/notifications)",
    )


def _fallout(ids: list[str], held: list[str], cancel: int, amend: int) -> list[str]:
    """The last order neither cancelled, amended nor refused, if there are two such."""
    doomed = min(cancel, len(ids))
    changed = min(amend, len(ids) - doomed)
    plain = ids[doomed + changed : len(ids) - len(held)]
    return plain[-1:] if len(plain) > 1 else []


def _refused_count(orders: int, cancel: int, amend: int) -> int:
    """Orders whose Completed status the org refuses in a chaos run: a tenth of those
    neither cancelled nor amended, at least one."""
    plain = orders - cancel - amend
    return max(1, plain // 10) if plain > 1 else 0


def demo_database(path: Path | None) -> str | None:
    return f"sqlite+aiosqlite:///{path}" if path else None
