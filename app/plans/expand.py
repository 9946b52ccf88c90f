"""Expand a plan definition for one order: rule matches, step instances, dependencies.

Pure and shared by ``decompose`` (which adds payloads and keys) and ``explain``
(which prints why).  Instance keys: order scope ``step``; line scope
``step@<OrderItem Id>``; bundle scope ``step@<bundle value>``.

Dependencies: ``x@each`` is every instance of x; a plain ``x`` is the instance(s)
of x covering the same lines (same line, the bundle holding the line, the lines of
the bundle; an order-scope step covers every line).  A reference that resolves to
no instance (no line matched) stands for that step's own dependencies, as if it
had been skipped.  A step skipped by its condition is
"done" at creation, so its dependents also inherit its own dependencies: they
still wait for everything before it.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from dataclasses import dataclass
from typing import Any

from revflow.mapping.paths import Scope
from revflow.plans.definitions import (
    EACH_SUFFIXES,
    PlanDefinition,
    ScopeKind,
    Source,
    StepDefinition,
    StepGroup,
)
from revflow.plans.rules import Verdict

__all__ = ["Expansion", "Instance", "RuleResult", "StepInstance", "expand", "split_ref"]


@dataclass(frozen=True)
class Instance:
    """One instantiation of a group: the order, one line, or one bundle."""

    group: StepGroup
    scope_key: str | None  # None for order scope
    item: Any  # what relative paths see: the order, the line, or the bundle
    record: dict[str, Any]  # what mappings see
    lines: frozenset[str] | None  # line ids covered; None = the whole order


@dataclass(frozen=True)
class RuleResult:
    group: str
    scope: ScopeKind
    rule: str  # the match criteria in words
    total: int  # lines considered
    matched: tuple[tuple[str, str], ...]  # (line id, why)
    unmatched: tuple[tuple[str, str], ...]
    bundles: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def fired(self) -> bool:
        return bool(self.matched)


@dataclass(frozen=True)
class StepInstance:
    definition: StepDefinition
    key: str
    instance: Instance
    depends_on: tuple[str, ...]
    verdict: Verdict | None  # the `when:` result, None without a condition
    skip_reason: str | None


@dataclass(frozen=True)
class Expansion:
    scenario: str
    rules: tuple[RuleResult, ...]
    steps: tuple[StepInstance, ...]  # dependencies first, otherwise definition order


def split_ref(ref: str) -> tuple[str, bool]:
    """``x@each`` -> (x, True); ``x`` -> (x, False)."""
    for suffix in EACH_SUFFIXES:
        if ref.endswith(suffix):
            return ref[: -len(suffix)], True
    return ref, False


def line_id(line: dict[str, Any], index: int) -> str:
    return str(line.get("Id") or f"line{index + 1}")


def key_part(value: Any) -> str:
    """A bundle value as a key suffix: safe characters only, hashed if changed."""
    text = str(value)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:40]  # key@value fits Step.key (100)
    return safe if safe == text else f"{safe}~{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def expand(definition: PlanDefinition, order: dict[str, Any], scenario: str = "new") -> Expansion:
    """``order`` is the plan's record: an Order, or a Quote for ``source: Quote`` (its
    lines are ``QuoteLineItems``, and line-scope mappings see the head as ``Quote``)."""
    source = definition.record
    lines = [ln for ln in order.get(source.lines) or [] if isinstance(ln, dict)]
    head = {k: v for k, v in order.items() if k != source.lines}
    rules: list[RuleResult] = []
    instances: list[Instance] = []
    for group in definition.scenario_groups(scenario):
        found, rule = _instances(group, order, head, lines, source)
        instances.extend(found)
        if rule is not None:
            rules.append(rule)
    steps = _steps(definition, order, instances)
    return Expansion(scenario, tuple(rules), tuple(steps))


def _instances(
    group: StepGroup,
    order: dict[str, Any],
    head: dict[str, Any],
    lines: list[dict[str, Any]],
    source: Source,
) -> tuple[list[Instance], RuleResult | None]:
    if group.scope is ScopeKind.ORDER and group.match is None:
        return [Instance(group, None, order, order, None)], None
    matched: list[tuple[str, str, dict[str, Any]]] = []
    unmatched: list[tuple[str, str]] = []
    for index, line in enumerate(lines):
        lid = line_id(line, index)
        verdict = (
            group.match.check(Scope(order, line)) if group.match else Verdict(True, "every line")
        )
        (
            matched.append((lid, verdict.reason, line))
            if verdict.ok
            else unmatched.append((lid, verdict.reason))
        )
    rule_text = group.match.describe() if group.match else "any line"
    found: list[Instance] = []
    bundles: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    if group.scope is ScopeKind.ORDER:
        if matched:
            found.append(Instance(group, None, order, order, None))
    elif group.scope is ScopeKind.LINE:
        for lid, _why, line in matched:
            record = {**line, source.name: head}
            found.append(Instance(group, lid, line, record, frozenset([lid])))
    else:
        for lid, _why, line in matched:
            value = group.bundle_by.get(Scope(order, line)) if group.bundle_by else None
            bundles.setdefault(key_part(lid if value is None else value), []).append((lid, line))
        for bkey, members in bundles.items():
            items = [ln for _, ln in members]
            item = {"BundleKey": bkey, source.lines: items, source.name: head}
            record = {**order, source.lines: items}
            found.append(Instance(group, bkey, item, record, frozenset(m for m, _ in members)))
    rule = RuleResult(
        group.name,
        group.scope,
        rule_text,
        len(lines),
        tuple((lid, why) for lid, why, _ in matched),
        tuple(unmatched),
        tuple((k, tuple(m for m, _ in v)) for k, v in bundles.items()),
    )
    return found, rule


def _steps(
    definition: PlanDefinition, order: dict[str, Any], instances: list[Instance]
) -> list[StepInstance]:
    raw: list[tuple[StepDefinition, str, Instance, Verdict | None]] = []
    targets: dict[str, _Targets] = {}
    for inst in instances:
        for key in inst.group.steps:
            sd = definition.step(key)
            ikey = key if inst.scope_key is None else f"{key}@{inst.scope_key}"
            verdict = sd.when.check(Scope(order, inst.item)) if sd.when is not None else None
            targets.setdefault(key, _Targets()).add(ikey, inst)
            raw.append((sd, ikey, inst, verdict))
    deps: dict[str, tuple[str, ...]] = {}
    for sd, ikey, inst, _ in raw:
        resolved: dict[str, None] = {}
        for ref in sd.depends_on:
            resolved.update(dict.fromkeys(_resolve(definition, targets, ref, inst, set())))
        resolved.pop(ikey, None)
        deps[ikey] = tuple(resolved)
    order_keys = _topological([ikey for _, ikey, _, _ in raw], deps)
    info = {ikey: (sd, inst, verdict) for sd, ikey, inst, verdict in raw}
    skipped: dict[str, str] = {}
    effective: dict[str, tuple[str, ...]] = {}
    for ikey in order_keys:
        sd, inst, verdict = info[ikey]
        own = dict.fromkeys(deps[ikey])
        for d in deps[ikey]:
            if d in skipped:
                own.update(dict.fromkeys(effective[d]))
        effective[ikey] = tuple(own)
        if verdict is not None and not verdict.ok:
            skipped[ikey] = verdict.reason
    return [
        StepInstance(info[k][0], k, info[k][1], effective[k], info[k][2], skipped.get(k))
        for k in order_keys
    ]


def _resolve(
    definition: PlanDefinition,
    targets: dict[str, _Targets],
    ref: str,
    inst: Instance,
    seen: set[str],
) -> list[str]:
    """Instance keys for ``ref``; with no instance (no line matched), its own dependencies."""
    target, each = split_ref(ref)
    found = targets[target].resolve(inst, each) if target in targets else []
    if found or target in seen:
        return found
    seen.add(target)
    out: dict[str, None] = {}
    for inner in definition.step(target).depends_on:
        out.update(dict.fromkeys(_resolve(definition, targets, inner, inst, seen)))
    return list(out)


class _Targets:
    """The instances of one step definition, indexed by the lines they cover."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.whole: list[str] = []  # order-scope instances cover every line
        self.by_line: dict[str, list[str]] = {}

    def add(self, key: str, inst: Instance) -> None:
        self.keys.append(key)
        if inst.lines is None:
            self.whole.append(key)
        for lid in inst.lines or ():
            self.by_line.setdefault(lid, []).append(key)

    def resolve(self, inst: Instance, each: bool) -> list[str]:
        if each or inst.lines is None:
            return self.keys
        found = dict.fromkeys(self.whole)
        for lid in sorted(inst.lines):
            found.update(dict.fromkeys(self.by_line.get(lid, ())))
        return [k for k in self.keys if k in found]


def _topological(keys: list[str], deps: dict[str, tuple[str, ...]]) -> list[str]:
    """Stable topological order: a step comes after its dependencies, else in given order."""
    index = {k: i for i, k in enumerate(keys)}
    waiting = {k: sum(1 for d in deps[k] if d in index) for k in keys}
    users: dict[str, list[str]] = {}
    for k in keys:
        for d in deps[k]:
            users.setdefault(d, []).append(k)
    heap = [index[k] for k in keys if waiting[k] == 0]
    heapq.heapify(heap)
    done: list[str] = []
    while heap:
        key = keys[heapq.heappop(heap)]
        done.append(key)
        for u in users.get(key, ()):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(heap, index[u])
    if len(done) < len(keys):  # a cycle (only in unchecked definitions): keep given order
        placed = set(done)
        done.extend(k for k in keys if k not in placed)
    return done
