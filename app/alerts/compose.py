"""An alert row -> the ``AlertMessage`` channels render (pure, given the runtime)."""

from __future__ import annotations

from revflow.alerts.links import ack_url
from revflow.alerts.message import AlertMessage, EventKind, Severity
from revflow.alerts.runtime import AlertRuntime
from revflow.db.models import Alert
from revflow.links import plan_url


def digest_message(messages: list[AlertMessage]) -> AlertMessage:
    """Several alerts of one rule as one message (a rule's ``digest``); one alone as is."""
    if len(messages) == 1:
        return messages[0]
    first = messages[0]
    order = list(Severity)
    worst = max((m.severity for m in messages), key=order.index)
    return AlertMessage(
        alert_id=first.alert_id,
        rule=first.rule,
        kind=first.kind,
        severity=worst,
        title=f"{len(messages)} alerts of rule {first.rule}",
        summary="\n".join(m.title for m in messages),
        created_at=min(m.created_at for m in messages),
        occurrences=sum(m.occurrences for m in messages),
        facts=tuple(
            (m.order_label or f"alert {m.alert_id}", " ".join(filter(None, (m.why(), m.plan_url))))
            for m in messages
        ),
    )


def message_for(alert: Alert, runtime: AlertRuntime | None, now_ts: float) -> AlertMessage:
    """The message of ``alert``; links only when the console's public URL is set."""
    detail = alert.detail or {}
    plan_link = ack = None
    if runtime is not None:
        if alert.plan_id is not None:
            plan_link = plan_url(runtime.console, alert.plan_id)
        if runtime.link_key and runtime.console.public_url:
            expires = int(now_ts + runtime.link_ttl_s)
            ack = ack_url(runtime.console.public_url, runtime.link_key, alert.id, expires)
    facts = tuple(
        (label, str(detail[key]))
        for key, label in (("connector", "Connector"), ("amount", "Amount"))
        if detail.get(key) not in (None, "")
    )
    return AlertMessage(
        alert_id=alert.id,
        rule=alert.rule,
        kind=EventKind(alert.kind),
        severity=Severity(alert.severity),
        title=alert.title,
        summary=alert.summary,
        created_at=alert.created_at,
        occurrences=alert.count,
        order_id=alert.order_id,
        order_number=detail.get("order_number"),
        account=detail.get("account"),
        error_class=alert.error_class,
        error_message=alert.error_message,
        plan_id=alert.plan_id,
        plan_url=plan_link,
        ack_url=ack,
        step=alert.step,
        facts=facts,
    )
