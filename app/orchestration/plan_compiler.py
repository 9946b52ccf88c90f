"""The plan-file compiler: a located YAML tree -> PlanDefinition plus Problems.

Used through ``app.orchestration.plan_files``; every check records a Problem at
the line and column of the offending key or value and compilation carries on.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from app.mapping.errors import Problem
from app.mapping.loader import Pos, YamlList, YamlMap
from app.mapping.paths import PathRef, parse_path
from app.orchestration.definitions import (
    SCENARIOS,
    AutoSpec,
    LineMatch,
    ManualSpec,
    PauseSpec,
    PlanDefinition,
    ScopeKind,
    StepDefinition,
    StepGroup,
    StepKind,
    WaitSpec,
)
from app.orchestration.plan_expand import split_ref
from app.orchestration.plan_rules import (
    Cond,
    Value,
    compile_condition,
    compile_value,
    parse_duration,
)
from app.orchestration.retry import RetryPolicy
from connectors.external_id import ExternalIdPath, compile_path

TOP_KEYS = (
    "name",
    "description",
    "version",
    "source",
    "defaults",
    "groups",
    "scenarios",
    "compensations",
)
DEFAULT_KEYS = ("retry",)
GROUP_KEYS = ("name", "description", "scope", "match", "bundle_by", "steps")
MATCH_KEYS = ("product_code", "product_codes", "family", "families", "when")
STEP_KEYS = (
    "key",
    "type",
    "description",
    "depends_on",
    "when",
    "retry",
    "expected_duration",
    "ponr",
    "compensation",
)
COMPENSATION_KEYS = ("key", "type", "description", "retry", "expected_duration")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "validate": (),
    "callout": ("connector", "action", "mapping", "payload", "writes_erp_number", "external_id"),
    "auto": ("action", "fields", "event", "target"),
    "wait": ("signal", "channel", "correlation_key", "timeout", "on_timeout"),
    "manual": ("assignee", "instructions"),
    "milestone": (),
    "pause": ("until", "after"),
}
COMPENSATION_KINDS = ("callout", "auto", "manual")
RETRY_KEYS = (
    "initial_interval",
    "backoff_coefficient",
    "maximum_interval",
    "maximum_attempts",
    "jitter",
    "non_retryable",
    "honour_retry_after",
    "schedule",
)
AUTO_ACTIONS = ("update_fields", "publish_event")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}\Z")


@dataclass
class _StepSrc:
    pos: Pos
    deps: list[tuple[str, Pos]] = field(default_factory=list)
    compensation: tuple[str, Pos] | None = None


class PlanCompiler:
    def __init__(
        self,
        filename: str,
        mappings: Collection[str] | None,
        connectors: Collection[str] | None,
        retry: RetryPolicy,
    ) -> None:
        self.filename = filename
        self.mappings = mappings
        self.connectors = connectors
        self.retry = retry
        self.problems: list[Problem] = []
        self.steps: dict[str, StepDefinition] = {}
        self.sources: dict[str, _StepSrc] = {}
        self.compensations: dict[str, StepDefinition] = {}
        self.groups: dict[str, StepGroup] = {}

    # -- helpers ---------------------------------------------------------------

    def problem(self, pos: Pos | None, message: str, key: str = "") -> None:
        line, col = pos or (1, 1)
        self.problems.append(Problem(self.filename, line, col, key, message))

    def unknown_keys(self, raw: YamlMap, allowed: Iterable[str], where: str) -> None:
        allowed = tuple(allowed)
        for key in raw:
            if key not in allowed:
                self.problem(
                    raw.key_pos[key],
                    f"unknown key '{key}' in {where} (expected one of: {', '.join(allowed)})",
                )

    def get(
        self,
        raw: YamlMap,
        key: str,
        kind: type | tuple[type, ...],
        what: str,
        required: bool = False,
    ) -> Any:
        if key not in raw:
            if required:
                self.problem(raw.pos, f"{what}: missing required key '{key}'")
            return None
        value = raw[key]
        ok = isinstance(value, kind) and not (
            isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        )
        if not ok:
            self.problem(
                raw.value_pos[key],
                f"{what}: '{key}' must be {_type_word(kind)}, got {_type_name(value)}",
            )
            return None
        return value

    def duration(self, raw: YamlMap, key: str, what: str) -> float | None:
        if key not in raw:
            return None
        try:
            return parse_duration(raw[key])
        except ValueError as exc:
            self.problem(raw.value_pos[key], f"{what}: '{key}': {exc}")
            return None

    def condition(self, raw: YamlMap, key: str, what: str) -> Cond | None:
        if key not in raw:
            return None
        fallback = raw.value_pos[key]
        return compile_condition(
            raw[key],
            lambda pos, msg: self.problem(pos or fallback, f"{what}: '{key}': {msg}"),
            fallback,
        )

    def value(self, raw: YamlMap, key: str, what: str) -> Value | None:
        try:
            return compile_value(raw[key])
        except ValueError as exc:
            self.problem(raw.value_pos[key], f"{what}: '{key}': {exc}")
            return None

    def path(self, raw: YamlMap, key: str, what: str) -> PathRef | None:
        text = self.get(raw, key, str, what)
        if text is None:
            return None
        try:
            return parse_path(text)
        except ValueError as exc:
            self.problem(raw.value_pos[key], f"{what}: {exc}")
            return None

    def external_id(self, raw: YamlMap, what: str) -> ExternalIdPath | None:
        text = self.get(raw, "external_id", str, what)
        if text is None:
            return None
        try:
            return compile_path(text)
        except ValueError as exc:
            self.problem(raw.value_pos["external_id"], f"{what}: 'external_id': {exc}")
            return None

    # -- the file --------------------------------------------------------------

    def plan(self, tree: Any) -> PlanDefinition | None:
        if not isinstance(tree, YamlMap):
            self.problem(
                getattr(tree, "pos", None),
                "a plan file must be a mapping with name, source and scenarios",
            )
            return None
        self.unknown_keys(tree, TOP_KEYS, "the plan")
        name = self.get(tree, "name", str, "plan", required=True)
        if name is not None and not _PLAN_NAME.match(name):
            self.problem(
                tree.value_pos["name"],
                f"plan name '{name}' must be letters, digits, '_', '.' or '-' (up to 100)",
            )
        source = self.get(tree, "source", str, "plan") or "Order"
        if source != "Order":
            self.problem(
                tree.value_pos["source"], f"source '{source}' is not supported (only Order)"
            )
        version = self.get(tree, "version", int, "plan") or 1
        description = self.get(tree, "description", str, "plan") or ""
        self.defaults(tree)
        for comp_raw, pos in self.items(tree, "compensations", "plan"):
            self.step(comp_raw, pos, "compensation", compensation=True)
        groups = self.get(tree, "groups", YamlMap, "plan") or YamlMap()
        for gname in groups:
            self.group(groups[gname], groups.value_pos[gname], gname, groups.key_pos[gname])
        scenarios = self.scenarios(tree)
        self.check_references()
        for scenario, group_names in scenarios.items():
            self.check_scenario(scenario, group_names)
        if self.problems or name is None:
            return None
        return PlanDefinition(
            name=name,
            steps=tuple(self.steps.values()),
            description=description,
            source=source,
            version=version,
            groups=tuple(self.groups.values()),
            scenarios=scenarios,
            compensations=tuple(self.compensations.values()),
            file=self.filename,
        )

    def items(self, raw: YamlMap, key: str, what: str) -> list[tuple[Any, Pos]]:
        value = self.get(raw, key, YamlList, what)
        return list(zip(value, value.item_pos, strict=True)) if value is not None else []

    def defaults(self, tree: YamlMap) -> None:
        raw = self.get(tree, "defaults", YamlMap, "plan")
        if raw is None:
            return
        self.unknown_keys(raw, DEFAULT_KEYS, "defaults")
        if "retry" in raw:
            self.retry, _ = self.retry_policy(raw, self.retry, "defaults")

    def retry_policy(self, raw: YamlMap, base: RetryPolicy, what: str) -> tuple[RetryPolicy, bool]:
        spec = self.get(raw, "retry", YamlMap, what)
        if spec is None:
            return base, True
        where = f"{what} retry"
        self.unknown_keys(spec, RETRY_KEYS, where)
        changes: dict[str, Any] = {}
        for key, attr in (
            ("initial_interval", "initial_interval_s"),
            ("maximum_interval", "maximum_interval_s"),
        ):
            seconds = self.duration(spec, key, where)
            if seconds is not None:
                changes[attr] = seconds
        for key, lo, hi in (("backoff_coefficient", 1.0, None), ("jitter", 0.0, 1.0)):
            number = self.get(spec, key, (int, float), where)
            if number is not None:
                if number < lo or (hi is not None and number > hi):
                    span = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
                    self.problem(spec.value_pos[key], f"{where}: '{key}' must be {span}")
                else:
                    changes[key] = float(number)
        attempts = self.get(spec, "maximum_attempts", int, where)
        if attempts is not None:
            if attempts < 0:
                self.problem(
                    spec.value_pos["maximum_attempts"],
                    f"{where}: 'maximum_attempts' must be >= 0 (0 = unlimited)",
                )
            else:
                changes["maximum_attempts"] = attempts
        errors = self.get(spec, "non_retryable", YamlList, where)
        if errors is not None:
            if not all(isinstance(e, str) for e in errors):
                self.problem(
                    spec.value_pos["non_retryable"],
                    f"{where}: 'non_retryable' must be a list of error type names",
                )
            else:
                changes["non_retryable"] = frozenset(errors)
        delays = self.get(spec, "schedule", YamlList, where)
        if delays is not None:
            try:
                schedule = tuple(parse_duration(d) for d in delays)
            except ValueError as exc:
                self.problem(spec.value_pos["schedule"], f"{where}: 'schedule': {exc}")
            else:
                changes["schedule"] = schedule
                changes.setdefault("maximum_attempts", len(schedule) + 1)
        honour = self.get(spec, "honour_retry_after", bool, where)
        return replace(base, **changes), True if honour is None else honour

    # -- groups and steps --------------------------------------------------------

    def group(self, raw: Any, pos: Pos, name: str, name_pos: Pos) -> StepGroup | None:
        what = f"group '{name}'"
        if not isinstance(raw, YamlMap):
            self.problem(pos, f"{what} must be a mapping with scope and steps")
            return None
        if not _NAME.match(name):
            self.problem(name_pos, f"{what}: names are letters, digits and '_'")
        if name in self.groups:
            self.problem(name_pos, f"{what} is defined twice")
            return None
        self.unknown_keys(raw, GROUP_KEYS, what)
        scope_text = self.get(raw, "scope", str, what) or "order"
        if scope_text not in ScopeKind.__members__.values():
            self.problem(
                raw.value_pos["scope"],
                f"{what}: unknown scope '{scope_text}' "
                f"(expected one of: {', '.join(s.value for s in ScopeKind)})",
            )
            scope_text = "order"
        scope = ScopeKind(scope_text)
        match = self.match(raw, what)
        bundle_by = self.path(raw, "bundle_by", what)
        if scope is ScopeKind.BUNDLE and "bundle_by" not in raw:
            self.problem(raw.pos, f"{what}: a bundle group needs 'bundle_by' (a line path)")
        if scope is not ScopeKind.BUNDLE and "bundle_by" in raw:
            self.problem(raw.key_pos["bundle_by"], f"{what}: 'bundle_by' is only for bundle scope")
        keys: list[str] = []
        steps = self.items(raw, "steps", what)
        if not steps and "steps" in raw:
            self.problem(raw.value_pos["steps"], f"{what}: 'steps' must not be empty")
        elif "steps" not in raw:
            self.problem(raw.pos, f"{what}: missing required key 'steps'")
        for step_raw, step_pos in steps:
            sd = self.step(step_raw, step_pos, what)
            if sd is not None:
                self.steps[sd.key] = sd
                keys.append(sd.key)
        group = StepGroup(
            name,
            tuple(keys),
            scope,
            match,
            bundle_by,
            self.get(raw, "description", str, what) or "",
        )
        self.groups[name] = group
        return group

    def match(self, raw: YamlMap, what: str) -> LineMatch | None:
        spec = self.get(raw, "match", YamlMap, what)
        if spec is None:
            return None
        where = f"{what} match"
        self.unknown_keys(spec, MATCH_KEYS, where)
        lists: dict[str, tuple[str, ...]] = {"product": (), "family": ()}
        for key, slot in (
            ("product_code", "product"),
            ("product_codes", "product"),
            ("family", "family"),
            ("families", "family"),
        ):
            if key in spec:
                value = spec[key]
                values = [value] if isinstance(value, str) else value
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    self.problem(
                        spec.value_pos[key], f"{where}: '{key}' must be text or a list of text"
                    )
                    continue
                lists[slot] += tuple(values)
        return LineMatch(lists["product"], lists["family"], self.condition(spec, "when", where))

    def step(
        self, raw: Any, pos: Pos, where: str, compensation: bool = False
    ) -> StepDefinition | None:
        label = "compensation" if compensation else "step"
        if not isinstance(raw, YamlMap):
            self.problem(pos, f"{where}: a {label} must be a mapping with key and type")
            return None
        key = self.get(raw, "key", str, f"{where} {label}", required=True)
        if key is None:
            return None
        what = f"{label} '{key}'"
        key_pos = raw.value_pos["key"]
        if not _NAME.match(key) or len(key) > 50:
            self.problem(key_pos, f"{what}: keys are letters, digits and '_' (up to 50)")
        if key in self.sources:
            self.problem(key_pos, f"{what} is defined twice (step keys are unique in a plan)")
            return None
        kind_text = self.get(raw, "type", str, what, required=True)
        if kind_text is None:
            return None
        allowed_kinds = COMPENSATION_KINDS if compensation else tuple(KIND_KEYS)
        if kind_text not in allowed_kinds:
            self.problem(
                raw.value_pos["type"],
                f"{what}: unknown {label} type '{kind_text}' "
                f"(expected one of: {', '.join(allowed_kinds)})",
            )
            return None
        common = COMPENSATION_KEYS if compensation else STEP_KEYS
        for k in raw:
            if k in common or k in KIND_KEYS[kind_text]:
                continue
            elsewhere = [t for t, ks in KIND_KEYS.items() if k in ks] or (
                ["step"] if k in STEP_KEYS else []
            )
            msg = (
                f"'{k}' is not allowed on a {kind_text} {label}"
                if elsewhere
                else f"unknown key '{k}' in {what}"
            )
            self.problem(raw.key_pos[k], msg)
        src = _StepSrc(key_pos)
        self.sources[key] = src
        deps = self.items(raw, "depends_on", what)
        for dep, dep_pos in deps:
            if isinstance(dep, str):
                src.deps.append((dep, dep_pos))
            else:
                self.problem(dep_pos, f"{what}: 'depends_on' entries must be step keys")
        comp = self.get(raw, "compensation", str, what)
        if comp is not None:
            src.compensation = (comp, raw.value_pos["compensation"])
        retry, honour = self.retry_policy(raw, self.retry, what)
        sd = StepDefinition(
            key=key,
            kind=StepKind(kind_text),
            depends_on=tuple(d for d, _ in src.deps),
            retry=retry,
            honour_retry_after=honour,
            description=self.get(raw, "description", str, what) or "",
            when=self.condition(raw, "when", what),
            ponr=bool(self.get(raw, "ponr", bool, what)),
            compensation=comp,
            expected_duration_s=self.duration(raw, "expected_duration", what),
        )
        sd = self.kind_fields(sd, raw, what)
        if compensation:
            self.compensations[key] = sd
        return sd

    def kind_fields(self, sd: StepDefinition, raw: YamlMap, what: str) -> StepDefinition:
        kind = sd.kind.value
        if kind == "callout":
            connector = self.get(raw, "connector", str, what, required=True)
            if connector and self.connectors is not None and connector not in self.connectors:
                self.problem(
                    raw.value_pos["connector"],
                    f"{what}: unknown connector "
                    f"'{connector}' (known: {', '.join(sorted(self.connectors))})",
                )
            mapping = self.get(raw, "mapping", str, what)
            if mapping and self.mappings is not None and mapping not in self.mappings:
                self.problem(
                    raw.value_pos["mapping"],
                    f"{what}: unknown mapping '{mapping}' "
                    f"(loaded: {', '.join(sorted(self.mappings)) or 'none'})",
                )
            if "mapping" in raw and "payload" in raw:
                self.problem(
                    raw.key_pos["payload"], f"{what}: use 'mapping' or 'payload', not both"
                )
            payload = None
            if self.get(raw, "payload", YamlMap, what) is not None:
                payload = self.value(raw, "payload", what)
            return replace(
                sd,
                connector=connector,
                action=self.get(raw, "action", str, what, required=True),
                mapping=mapping,
                payload=payload,
                writes_erp_number=bool(self.get(raw, "writes_erp_number", bool, what)),
                external_id=self.external_id(raw, what),
            )
        if kind == "auto":
            return replace(sd, auto=self.auto(raw, what))
        if kind == "wait":
            return replace(sd, wait=self.wait(raw, what))
        if kind == "manual":
            instructions = None
            if self.get(raw, "instructions", str, what) is not None:
                instructions = self.value(raw, "instructions", what)
            return replace(
                sd, manual=ManualSpec(self.get(raw, "assignee", str, what), instructions)
            )
        if kind == "pause":
            if "until" not in raw and "after" not in raw:
                self.problem(
                    raw.pos,
                    f"{what}: a pause needs 'until' (a date path) and/or 'after' (a duration)",
                )
            return replace(
                sd,
                pause=PauseSpec(self.path(raw, "until", what), self.duration(raw, "after", what)),
            )
        return sd

    def auto(self, raw: YamlMap, what: str) -> AutoSpec | None:
        action = self.get(raw, "action", str, what, required=True)
        if action is not None and action not in AUTO_ACTIONS:
            self.problem(
                raw.value_pos["action"],
                f"{what}: unknown auto action '{action}' "
                f"(expected one of: {', '.join(AUTO_ACTIONS)})",
            )
            return None
        fields = None
        if self.get(raw, "fields", YamlMap, what, required=True) is not None:
            fields = self.value(raw, "fields", what)
        event = self.get(raw, "event", str, what, required=action == "publish_event")
        target = self.get(raw, "target", str, what) or "order"
        if action == "publish_event":
            if "target" in raw:
                self.problem(raw.key_pos["target"], f"{what}: 'target' is for update_fields")
        elif "event" in raw:
            self.problem(raw.key_pos["event"], f"{what}: 'event' is for publish_event")
        if target not in ("order", "line"):
            self.problem(raw.value_pos["target"], f"{what}: 'target' must be order or line")
        if action is None or fields is None:
            return None
        return AutoSpec(action, fields, event, target)

    def wait(self, raw: YamlMap, what: str) -> WaitSpec | None:
        signal = self.get(raw, "signal", str, what) or "event"
        if signal not in ("event", "callback"):
            self.problem(raw.value_pos["signal"], f"{what}: 'signal' must be event or callback")
        if signal == "callback" and "channel" in raw:
            self.problem(raw.key_pos["channel"], f"{what}: 'channel' is for signal: event")
        on_timeout = self.get(raw, "on_timeout", str, what) or "fail"
        if on_timeout not in ("fail", "complete"):
            self.problem(
                raw.value_pos["on_timeout"], f"{what}: 'on_timeout' must be fail or complete"
            )
        key = None
        if self.get(raw, "correlation_key", str, what, required=True) is not None:
            key = self.value(raw, "correlation_key", what)
        timeout = self.duration(raw, "timeout", what)
        if key is None:
            return None
        return WaitSpec(key, signal, self.get(raw, "channel", str, what), timeout, on_timeout)

    # -- scenarios and cross references ------------------------------------------

    def scenarios(self, tree: YamlMap) -> dict[str, tuple[str, ...]]:
        raw = self.get(tree, "scenarios", YamlMap, "plan", required=True)
        out: dict[str, tuple[str, ...]] = {}
        if raw is None:
            return out
        for scenario, value in raw.items():
            if scenario not in SCENARIOS:
                self.problem(
                    raw.key_pos[scenario],
                    f"unknown scenario '{scenario}' (expected one of: {', '.join(SCENARIOS)})",
                )
                continue
            where = f"scenario '{scenario}'"
            if not isinstance(value, YamlList) or not value:
                self.problem(
                    raw.value_pos[scenario],
                    f"{where} must be a non-empty list of group names or groups",
                )
                continue
            names: list[str] = []
            for item, pos in zip(value, value.item_pos, strict=True):
                if isinstance(item, str):
                    if item not in self.groups:
                        self.problem(pos, f"{where}: unknown group '{item}'")
                    else:
                        names.append(item)
                elif isinstance(item, YamlMap):
                    gname = item.get("name")
                    if not isinstance(gname, str):
                        self.problem(pos, f"{where}: an inline group needs a 'name'")
                        continue
                    if self.group(item, pos, gname, item.value_pos["name"]) is not None:
                        names.append(gname)
                else:
                    self.problem(
                        pos, f"{where}: entries are group names or groups, got {_type_name(item)}"
                    )
            if len(set(names)) != len(names):
                self.problem(raw.value_pos[scenario], f"{where} lists a group twice")
            out[scenario] = tuple(dict.fromkeys(names))
        return out

    def check_references(self) -> None:
        for key, src in self.sources.items():
            for dep, pos in src.deps:
                target, _each = split_ref(dep)
                if target in self.compensations:
                    self.problem(pos, f"step '{key}' depends on compensation '{target}'")
                elif target not in self.steps and key in self.steps:
                    self.problem(pos, f"step '{key}' depends on unknown step '{target}'")
            if src.compensation is not None:
                comp, pos = src.compensation
                if comp not in self.compensations:
                    known = ", ".join(self.compensations) or "none defined"
                    self.problem(
                        pos,
                        f"step '{key}': compensation '{comp}' is not defined "
                        f"under 'compensations' ({known})",
                    )

    def check_scenario(self, scenario: str, group_names: tuple[str, ...]) -> None:
        keys = [k for g in group_names for k in self.groups[g].steps]
        present = set(keys)
        graph: dict[str, list[tuple[str, Pos]]] = {}
        for key in keys:
            edges = graph.setdefault(key, [])
            for dep, pos in self.sources[key].deps:
                target, _ = split_ref(dep)
                if target in present:
                    edges.append((target, pos))
                elif target in self.steps:
                    self.problem(
                        pos,
                        f"step '{key}' depends on '{target}', which is not in "
                        f"scenario '{scenario}'",
                    )
        for cycle, pos in find_cycles(graph):
            message = "dependency cycle: " + " -> ".join(cycle)
            if not any(p.message == message for p in self.problems):
                self.problem(pos, message)


def find_cycles(graph: dict[str, list[tuple[str, Pos]]]) -> list[tuple[list[str], Pos]]:
    """Each elementary cycle found by depth-first search, with the position of its first edge."""
    found: list[tuple[list[str], Pos]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(key: str, path: list[tuple[str, Pos | None]]) -> None:
        state[key] = 1
        for target, pos in graph.get(key, []):
            if state.get(target) == 1:
                keys = [k for k, _ in path] + [key]
                start = keys.index(target)
                cycle = [*keys[start:], target]
                first_pos = path[start][1] if start < len(path) else pos
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append((cycle, first_pos or pos))
            elif state.get(target) is None and target in graph:
                visit(target, [*path, (key, pos)])
        state[key] = 2

    for key in graph:
        if key not in state:
            visit(key, [])
    return found


def _type_word(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {
        str: "text",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        YamlMap: "a mapping",
        YamlList: "a list",
    }
    return " or ".join(dict.fromkeys(words.get(k, k.__name__) for k in kinds))


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        YamlMap: "a mapping",
        YamlList: "a list",
    }.get(type(value), type(value).__name__)
