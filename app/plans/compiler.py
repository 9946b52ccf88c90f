"""The plan-file compiler: a located YAML tree -> PlanDefinition plus Problems.

Used through ``revflow.plans.files``; every check records a Problem at the line and
column of the offending key or value and compilation carries on.  Typed reads are in
``reader``, the fields of each step type in ``kinds``, cross references and cycles in
``graph``; this module reads the plan, its groups, steps, retry and scenarios.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from revflow.mapping.loader import Pos, YamlList, YamlMap
from revflow.plans.definitions import (
    SCENARIOS,
    SOURCES,
    LineMatch,
    PlanDefinition,
    ScopeKind,
    StepDefinition,
    StepGroup,
    StepKind,
)
from revflow.plans.graph import StepSource, check_references, check_scenario
from revflow.plans.kinds import COMPENSATION_KINDS, KIND_KEYS, kind_fields
from revflow.plans.reader import Reader, type_name
from revflow.plans.retry import RetryPolicy
from revflow.plans.rules import parse_duration

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
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}\Z")


class PlanCompiler(Reader):
    """Compiles one plan file; ``plan(tree)`` answers None when it has problems."""

    def __init__(
        self,
        filename: str,
        mappings: Collection[str] | None,
        connectors: Collection[str] | None,
        retry: RetryPolicy,
    ) -> None:
        super().__init__(filename)
        self.mappings = mappings
        self.connectors = connectors
        self.retry = retry
        self.steps: dict[str, StepDefinition] = {}
        self.sources: dict[str, StepSource] = {}
        self.compensations: dict[str, StepDefinition] = {}
        self.groups: dict[str, StepGroup] = {}

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
        if source not in SOURCES:
            self.problem(
                tree.value_pos["source"],
                f"source '{source}' is not supported (one of {', '.join(SOURCES)})",
            )
            source = "Order"
        version = self.get(tree, "version", int, "plan") or 1
        description = self.get(tree, "description", str, "plan") or ""
        self.defaults(tree)
        for comp_raw, pos in self.items(tree, "compensations", "plan"):
            self.step(comp_raw, pos, "compensation", compensation=True)
        groups = self.get(tree, "groups", YamlMap, "plan") or YamlMap()
        for gname in groups:
            self.group(groups[gname], groups.value_pos[gname], gname, groups.key_pos[gname])
        scenarios = self.scenarios(tree)
        check_references(self, self.sources, self.steps, self.compensations)
        for scenario, group_names in scenarios.items():
            check_scenario(self, scenario, group_names, self.groups, self.sources, self.steps)
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
        src = StepSource(key_pos)
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
        sd = kind_fields(self, sd, raw, what, self.mappings, self.connectors)
        if compensation:
            self.compensations[key] = sd
        return sd

    # -- scenarios -----------------------------------------------------------------

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
                        pos, f"{where}: entries are group names or groups, got {type_name(item)}"
                    )
            if len(set(names)) != len(names):
                self.problem(raw.value_pos[scenario], f"{where} lists a group twice")
            out[scenario] = tuple(dict.fromkeys(names))
        return out
