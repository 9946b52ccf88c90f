"""What happened, as the code that records it describes it to the alert rules.

Pure data: ``raise_alert`` (``revflow.alerts.service``) matches an ``AlertEvent``
against the rules and records an alert for each rule that matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from revflow.alerts.message import EventKind, Severity


@dataclass(frozen=True)
class AlertEvent:
    """One occurrence of a condition worth telling someone about.

    ``subject`` names what the condition is about, so a repeat while its alert is
    open updates that alert: ``plan:42``, ``endpoint:erp``, ``incident:<key>``,
    ``loop:writeback``.
    """

    kind: EventKind
    subject: str
    title: str
    summary: str
    plan_id: int | None = None
    plan_definition: str | None = None
    order_id: str | None = None
    # the Order as last read (the plan's snapshot): conditions on its fields read it
    order: Mapping[str, Any] | None = field(default=None, compare=False)
    step: str | None = None
    connector: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    severity: Severity | None = None  # None: the rule's severity


def order_value(order: Mapping[str, Any] | None, path: str) -> Any:
    """The value at a dotted path of a Salesforce record (``Account.BillingCountry``)."""
    value: Any = order
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def order_number(order: Mapping[str, Any] | None) -> str | None:
    value = order_value(order, "OrderNumber")
    return str(value) if value not in (None, "") else None


def account_name(order: Mapping[str, Any] | None) -> str | None:
    value = order_value(order, "Account.Name")
    return str(value) if value not in (None, "") else None
