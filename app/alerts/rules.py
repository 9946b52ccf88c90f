"""Alert rules as plain data, and which rules an event matches (no I/O).

A rule names the events it alerts on, conditions on them, who is told at first
(``levels[0]``) and who next when nobody acknowledges in time (``levels[1:]``).
Rules are compiled from a rules file by ``revflow.alerts.rules_file``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from revflow.alerts.channels.base import RecipientKind
from revflow.alerts.events import AlertEvent, order_value
from revflow.alerts.message import EventKind, Severity

CHANNELS = ("email", "slack", "teams", "salesforce", "chatter", "webhook")


@dataclass(frozen=True)
class Target:
    """One recipient of a level: ``owner``, ``on_call``, a team, or a user by email."""

    to: RecipientKind
    name: str | None  # the team's name or the user's email; None for owner and on_call
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Level:
    """Who is told; ``after_s`` after the alert opened unless it is acknowledged first."""

    after_s: float
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Conditions:
    """All set conditions must hold; a set of values matches any one of them."""

    plans: frozenset[str] | None = None
    connectors: frozenset[str] | None = None
    error_classes: frozenset[str] | None = None
    amount_above: Decimal | None = None
    regions: frozenset[str] | None = None
    fields: tuple[tuple[str, frozenset[str]], ...] = ()  # order field path -> values

    @property
    def reads_order(self) -> bool:
        return self.amount_above is not None or self.regions is not None or bool(self.fields)


@dataclass(frozen=True)
class Throttle:
    """At most ``count`` new alerts of a rule per ``per_s``; more are kept, not sent."""

    count: int
    per_s: float


@dataclass(frozen=True)
class Rule:
    name: str
    events: frozenset[EventKind]
    severity: Severity
    levels: tuple[Level, ...]
    when: Conditions = Conditions()
    throttle: Throttle | None = None
    # first messages wait for the next multiple of this many seconds (UTC) and go out
    # as one digest per recipient and channel; escalations are never held back
    digest_s: float | None = None
    line: int = 0  # where the rule starts in its file

    def level(self, n: int) -> Level | None:
        return self.levels[n] if 0 <= n < len(self.levels) else None


@dataclass(frozen=True)
class Team:
    """A named team or queue: its address on each channel it can be reached on."""

    name: str
    addresses: Mapping[str, str]  # channel -> address (email address, webhook name...)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    teams: Mapping[str, Team] = field(default_factory=dict)
    on_call: Team | None = None
    amount_field: str = "TotalAmount"
    region_field: str = "Account.BillingCountry"
    file: str = ""

    @property
    def kinds(self) -> frozenset[EventKind]:
        """Every event kind some rule alerts on (anything else costs nothing)."""
        return frozenset(k for r in self.rules for k in r.events)

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def needs_order(self, kind: EventKind) -> bool:
        return any(kind in r.events and r.when.reads_order for r in self.rules)

    def matching(self, event: AlertEvent) -> list[Rule]:
        """The rules ``event`` alerts on, in file order."""
        return [r for r in self.rules if event.kind in r.events and not self.failing(r, event)]

    def failing(self, rule: Rule, event: AlertEvent) -> list[str]:
        """Why ``rule`` does not alert on ``event``: each condition that fails ([]: it does)."""
        when, out = rule.when, []
        if event.kind not in rule.events:
            out.append(f"event {event.kind.value} is not one of the rule's events")
        if when.plans is not None and event.plan_definition not in when.plans:
            out.append(f"plan {event.plan_definition!r} is not one of {sorted(when.plans)}")
        if when.connectors is not None and event.connector not in when.connectors:
            out.append(f"connector {event.connector!r} is not one of {sorted(when.connectors)}")
        if when.error_classes is not None and not _error_class_in(event, when.error_classes):
            out.append(
                f"error class {event.error_class!r} is not one of {sorted(when.error_classes)}"
            )
        if when.amount_above is not None:
            amount = _decimal(order_value(event.order, self.amount_field))
            if amount is None or amount <= when.amount_above:
                out.append(f"{self.amount_field} {amount} is not above {when.amount_above}")
        if when.regions is not None:
            region = order_value(event.order, self.region_field)
            if not _in(region, when.regions):
                out.append(f"{self.region_field} {region!r} is not one of {sorted(when.regions)}")
        for path, values in when.fields:
            value = order_value(event.order, path)
            if not _in(value, values):
                out.append(f"{path} {value!r} is not one of {sorted(values)}")
        return out


def _error_class_in(event: AlertEvent, classes: frozenset[str]) -> bool:
    return (event.error_class or "").lower() in {c.lower() for c in classes}


def _in(value: Any, values: frozenset[str]) -> bool:
    if value is None:
        return False
    return str(value).lower() in {v.lower() for v in values}


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
