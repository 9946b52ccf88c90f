"""The alert rules and link settings this process uses, set once at start.

``raise_alert`` is called deep inside other domains' transactions (the worker's
batch, the write-back flusher...); it reads the rules from here rather than having
them threaded through every caller.  ``configure`` is called by ``Revflow`` (and by
tests); without it no rule exists and raising an alert costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from revflow.alerts.errors import AlertRuleError
from revflow.alerts.rules import RuleSet
from revflow.alerts.rules_file import load_rules_file
from revflow.alerts.settings import AlertSettings
from revflow.config_types import ConfigError
from revflow.links import ConsoleSettings


@dataclass(frozen=True)
class AlertRuntime:
    rules: RuleSet
    console: ConsoleSettings
    link_key: bytes | None = None
    link_ttl_s: float = 7 * 86400.0


_current: AlertRuntime | None = None


def current() -> AlertRuntime | None:
    return _current


def install(runtime: AlertRuntime | None) -> None:
    """Use ``runtime`` from now on (None: no alerts)."""
    global _current
    _current = runtime


def configure(alerts: AlertSettings, console: ConsoleSettings) -> AlertRuntime | None:
    """Load the rules file and install it; ConfigError naming the file's problems."""
    if not alerts.enabled or alerts.rules_file is None:
        install(None)
        return None
    try:
        rules = load_rules_file(alerts.rules_file)
    except AlertRuleError as exc:
        raise ConfigError(f"invalid alert rules (REVFLOW_ALERTS__RULES_FILE):\n{exc}") from None
    runtime = AlertRuntime(rules, console, alerts.link_key(), alerts.link_ttl_s)
    install(runtime)
    return runtime
