"""Alert rules files: YAML -> RuleSet, every problem at ``file:line:col`` with its key.

    rules = load_rules_file("alerts/rules.yaml")        # AlertRuleError lists problems
    ruleset, problems = compile_rules(text, "rules.yaml")

The format is described in docs/alerts.md and alerts/rules.schema.json.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from revflow.alerts.channels.base import RecipientKind
from revflow.alerts.errors import AlertRuleError
from revflow.alerts.message import EventKind, Severity
from revflow.alerts.rules import CHANNELS, Conditions, Level, Rule, RuleSet, Target, Team, Throttle
from revflow.mapping.errors import Problem
from revflow.mapping.loader import Pos, YamlList, YamlMap, parse_yaml
from revflow.plans.reader import Reader

TOP_KEYS = ("version", "order_fields", "teams", "on_call", "rules")
RULE_KEYS = ("name", "events", "when", "severity", "notify", "escalate", "throttle", "digest")
WHEN_KEYS = ("plan", "connector", "error_class", "amount_above", "region", "fields")
TARGET_KEYS = ("to", "via")
TEAM_CHANNELS = ("email", "slack", "teams", "webhook", "chatter")


def load_rules_file(path: str | Path) -> RuleSet:
    """The rules in ``path``; AlertRuleError naming every problem otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertRuleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    ruleset, problems = compile_rules(text, str(path))
    if problems or ruleset is None:
        raise AlertRuleError("\n".join(str(p) for p in sorted(problems)))
    return ruleset


def lint_rules_file(path: str | Path) -> list[Problem]:
    """Every problem of a rules file (empty: it is fine)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return [Problem(str(path), 1, 1, "", f"cannot read: {exc.strerror or exc}")]
    return compile_rules(text, str(path))[1]


def compile_rules(text: str, filename: str = "<rules>") -> tuple[RuleSet | None, list[Problem]]:
    """Compile rules text; the rule set is None when there are problems."""
    parsed = parse_yaml(text, filename)
    if parsed.tree is None:
        return None, parsed.problems
    reader = _RulesReader(filename)
    reader.problems.extend(parsed.problems)
    ruleset = reader.ruleset(parsed.tree)
    return (None if reader.problems else ruleset), sorted(reader.problems)


class _RulesReader(Reader):
    def ruleset(self, tree: Any) -> RuleSet | None:
        if not isinstance(tree, YamlMap):
            self.problem(None, "a rules file is a mapping with 'rules'")
            return None
        self.unknown_keys(tree, TOP_KEYS, "the rules file")
        version = self.get(tree, "version", int, "the rules file")
        if version is not None and version != 1:
            self.problem(tree.value_pos["version"], f"unknown version {version} (known: 1)")
        fields = self.get(tree, "order_fields", YamlMap, "the rules file") or YamlMap()
        if fields:
            self.unknown_keys(fields, ("amount", "region"), "order_fields")
        teams = self.teams(tree)
        on_call = None
        if "on_call" in tree:
            raw = self.get(tree, "on_call", YamlMap, "the rules file")
            on_call = self.team("on_call", raw) if raw is not None else None
        rules: list[Rule] = []
        seen: dict[str, Pos] = {}
        for raw, pos in self.items(tree, "rules", "the rules file"):
            rule = self.rule(raw, pos, teams, on_call is not None)
            if rule is None:
                continue
            if rule.name in seen:
                self.problem(
                    pos,
                    f"rule '{rule.name}': defined twice (first at line {seen[rule.name][0]})",
                    "name",
                )
            seen.setdefault(rule.name, pos)
            rules.append(rule)
        if "rules" not in tree:
            self.problem(tree.pos, "the rules file: missing required key 'rules'", "rules")
        return RuleSet(
            tuple(rules),
            teams,
            on_call,
            amount_field=str(fields.get("amount") or "TotalAmount"),
            region_field=str(fields.get("region") or "Account.BillingCountry"),
            file=self.filename,
        )

    def teams(self, tree: YamlMap) -> dict[str, Team]:
        raw = self.get(tree, "teams", YamlMap, "the rules file")
        out: dict[str, Team] = {}
        for name, value in (raw or {}).items():
            if not isinstance(value, YamlMap):
                self.problem(
                    raw.value_pos[name],
                    f"team '{name}': must be a mapping of channel to address",
                    f"teams.{name}",
                )
                continue
            team = self.team(name, value)
            if team is not None:
                out[name] = team
        return out

    def team(self, name: str, raw: YamlMap) -> Team | None:
        where = "on_call" if name == "on_call" else f"team '{name}'"
        self.unknown_keys(raw, TEAM_CHANNELS, where)
        addresses = {}
        for channel in TEAM_CHANNELS:
            value = self.get(raw, channel, str, where)
            if value:
                addresses[channel] = value
        if not addresses:
            self.problem(
                raw.pos, f"{where}: give at least one address ({', '.join(TEAM_CHANNELS)})"
            )
            return None
        return Team(name, addresses)

    def rule(self, raw: Any, pos: Pos, teams: dict[str, Team], has_on_call: bool) -> Rule | None:
        if not isinstance(raw, YamlMap):
            self.problem(pos, "a rule must be a mapping")
            return None
        name = self.get(raw, "name", str, "a rule", required=True)
        what = f"rule '{name}'" if name else "a rule"
        self.unknown_keys(raw, RULE_KEYS, what)
        events = self.events(raw, what)
        severity = Severity.ERROR
        if "severity" in raw:
            text = self.get(raw, "severity", str, what)
            try:
                severity = Severity(text)
            except ValueError:
                self.problem(
                    raw.value_pos["severity"],
                    f"{what}: unknown severity {text!r} "
                    f"(one of: {', '.join(s.value for s in Severity)})",
                    "severity",
                )
        first = self.targets(raw, "notify", what, teams, has_on_call, required=True)
        levels = [Level(0.0, first)]
        last = 0.0
        for step, step_pos in self.items(raw, "escalate", what):
            level = self.escalation(step, step_pos, what, teams, has_on_call)
            if level is None:
                continue
            if level.after_s <= last:
                self.problem(
                    step_pos,
                    f"{what}: escalations must come later one after "
                    f"another ('after' {level.after_s:g}s)",
                    "escalate",
                )
            last = level.after_s
            levels.append(level)
        when = self.conditions(raw, what)
        throttle = self.throttle(raw, what)
        digest = self.duration(raw, "digest", what)
        if digest is not None and digest < 60:
            self.problem(raw.value_pos["digest"], f"{what}: 'digest' must be 1m or more", "digest")
        if not name or events is None:
            return None
        return Rule(
            name, events, severity, tuple(levels), when, throttle, digest_s=digest, line=pos[0]
        )

    def events(self, raw: YamlMap, what: str) -> frozenset[EventKind] | None:
        names = self.names(raw, "events", what, required=True)
        if names is None:
            return None
        kinds = set()
        for text in names:
            try:
                kinds.add(EventKind(text))
            except ValueError:
                self.problem(
                    raw.value_pos["events"],
                    f"{what}: unknown event {text!r} "
                    f"(one of: {', '.join(k.value for k in EventKind)})",
                    "events",
                )
        return frozenset(kinds) if kinds else None

    def names(self, raw: YamlMap, key: str, what: str, required: bool = False) -> list[str] | None:
        """A string or a list of strings."""
        value = self.get(raw, key, (str, YamlList), what, required=required)
        if value is None:
            return None
        items = [value] if isinstance(value, str) else list(value)
        if not items or not all(isinstance(v, str | int | float) for v in items):
            self.problem(raw.value_pos[key], f"{what}: '{key}' must be text or a list of text", key)
            return None
        return [str(v) for v in items]

    def targets(
        self,
        raw: YamlMap,
        key: str,
        what: str,
        teams: dict[str, Team],
        has_on_call: bool,
        *,
        required: bool = False,
    ) -> tuple[Target, ...]:
        out = []
        before = len(self.problems)
        if required and key not in raw:
            self.problem(raw.pos, f"{what}: missing required key '{key}'", key)
        for item, pos in self.items(raw, key, what):
            target = self.target(item, pos, what, teams, has_on_call)
            if target is not None:
                out.append(target)
        if key in raw and not out and len(self.problems) == before:
            self.problem(raw.value_pos[key], f"{what}: '{key}' names nobody", key)
        return tuple(out)

    def target(
        self, raw: Any, pos: Pos, what: str, teams: dict[str, Team], has_on_call: bool
    ) -> Target | None:
        if not isinstance(raw, YamlMap):
            self.problem(pos, f"{what}: a recipient is a mapping with 'to' and 'via'")
            return None
        self.unknown_keys(raw, TARGET_KEYS, f"{what}: a recipient")
        to = self.get(raw, "to", str, f"{what}: a recipient", required=True)
        via = self.names(raw, "via", f"{what}: a recipient", required=True)
        if to is None or via is None:
            return None
        kind, _, name = to.partition(":")
        at = raw.value_pos["to"]
        ok = True
        if kind == "owner" and not name:
            target_kind, target_name = RecipientKind.OWNER, None
        elif kind == "on_call" and not name:
            target_kind, target_name = RecipientKind.ON_CALL, None
            if not has_on_call:
                self.problem(at, f"{what}: 'to: on_call' but the file has no 'on_call'", "to")
                ok = False
        elif kind == "team" and name:
            target_kind, target_name = RecipientKind.TEAM, name
            if name not in teams:
                known = ", ".join(sorted(teams)) or "none"
                self.problem(at, f"{what}: unknown team {name!r} (teams: {known})", "to")
                ok = False
        elif kind == "user" and "@" in name:
            target_kind, target_name = RecipientKind.USER, name
        else:
            self.problem(
                at,
                f"{what}: 'to' must be owner, on_call, team:<name> or user:<email>, got {to!r}",
                "to",
            )
            return None
        for channel in via:
            if channel not in CHANNELS:
                self.problem(
                    raw.value_pos["via"],
                    f"{what}: unknown channel {channel!r} (one of: {', '.join(CHANNELS)})",
                    "via",
                )
                ok = False
        return Target(target_kind, target_name, tuple(dict.fromkeys(via))) if ok else None

    def escalation(
        self, raw: Any, pos: Pos, what: str, teams: dict[str, Team], has_on_call: bool
    ) -> Level | None:
        if not isinstance(raw, YamlMap):
            self.problem(pos, f"{what}: an escalation is a mapping with 'after' and 'notify'")
            return None
        self.unknown_keys(raw, ("after", "notify"), f"{what}: an escalation")
        if "after" not in raw:
            self.problem(raw.pos, f"{what}: an escalation needs 'after' (a duration)", "after")
            return None
        after = self.duration(raw, "after", f"{what}: an escalation")
        targets = self.targets(
            raw, "notify", f"{what}: an escalation", teams, has_on_call, required=True
        )
        if after is None or not targets:
            return None
        if after <= 0:
            self.problem(raw.value_pos["after"], f"{what}: 'after' must be more than 0", "after")
        return Level(after, targets)

    def conditions(self, raw: YamlMap, what: str) -> Conditions:
        if "when" not in raw:
            return Conditions()
        when = self.get(raw, "when", YamlMap, what)
        if when is None:
            return Conditions()
        where = f"{what}: 'when'"
        self.unknown_keys(when, WHEN_KEYS, where)

        def values(key: str) -> frozenset[str] | None:
            found = self.names(when, key, where)
            return frozenset(found) if found is not None else None

        amount = None
        if "amount_above" in when:
            number = self.get(when, "amount_above", (int, float), where)
            amount = Decimal(str(number)) if number is not None else None
        fields: list[tuple[str, frozenset[str]]] = []
        raw_fields = self.get(when, "fields", YamlMap, where) if "fields" in when else None
        for path, _value in (raw_fields or {}).items():
            found = self.names(raw_fields, path, f"{where}: 'fields'")  # type: ignore[arg-type]
            if found is not None:
                fields.append((path, frozenset(found)))
        return Conditions(
            plans=values("plan"),
            connectors=values("connector"),
            error_classes=values("error_class"),
            amount_above=amount,
            regions=values("region"),
            fields=tuple(fields),
        )

    def throttle(self, raw: YamlMap, what: str) -> Throttle | None:
        if "throttle" not in raw:
            return None
        value = self.get(raw, "throttle", YamlMap, what)
        if value is None:
            return None
        where = f"{what}: 'throttle'"
        self.unknown_keys(value, ("count", "per"), where)
        count = self.get(value, "count", int, where, required=True)
        per = self.duration(value, "per", where)
        if "per" not in value:
            self.problem(value.pos, f"{where}: missing required key 'per'", "per")
        if count is None or per is None:
            return None
        if count < 1 or per <= 0:
            self.problem(value.pos, f"{where}: 'count' and 'per' must be more than 0")
            return None
        return Throttle(count, per)
