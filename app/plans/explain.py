"""Dry-run a plan definition on an order: which rules fired, which steps run, and why.

    print(explain(definition, order_record, "new").render())

Pure (no mappings, no database): the answer to "why was nothing generated?" and
"why was this step skipped?" before an order is activated or after it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from revflow.plans.definitions import PlanDefinition, ScopeKind, UnknownScenario
from revflow.plans.expand import RuleResult, StepInstance, expand

__all__ = ["Explanation", "explain"]


@dataclass(frozen=True)
class Explanation:
    plan: str
    scenario: str
    order_id: str
    line_count: int
    rules: tuple[RuleResult, ...] = ()
    steps: tuple[StepInstance, ...] = ()
    error: str | None = None  # e.g. the plan has no such scenario

    @property
    def skipped(self) -> tuple[StepInstance, ...]:
        return tuple(s for s in self.steps if s.skip_reason is not None)

    def notes(self) -> list[str]:
        """Plan-level findings: nothing generated, no rule matched."""
        out: list[str] = []
        if self.error:
            out.append(self.error)
            return out
        if not self.steps:
            out.append("nothing would be generated: no group applies to this order")
        line_rules = [r for r in self.rules if r.scope is not ScopeKind.ORDER]
        if line_rules and not any(r.fired for r in line_rules):
            if self.line_count == 0:
                out.append("no rule matched: the order has no lines")
            else:
                wanted = "; ".join(f"{r.group}: {r.rule}" for r in line_rules)
                out.append(f"no rule matched: no line satisfies any rule ({wanted})")
        return out

    def render(self) -> str:
        head = (
            f"plan {self.plan} (scenario {self.scenario}) for order {self.order_id}: "
            f"{self.line_count} line{'s' if self.line_count != 1 else ''}"
        )
        if not self.error:
            head += f", {len(self.steps)} steps ({len(self.skipped)} skipped)"
        out = [head]
        if self.rules:
            out.append("")
            out.append("rules:")
            for rule in self.rules:
                out.extend("  " + line for line in _rule_lines(rule))
        if self.steps:
            out.append("")
            out.append("steps:")
            width = max(len(s.key) for s in self.steps)
            for n, si in enumerate(self.steps, 1):
                out.extend(_step_lines(n, si, width))
        notes = self.notes()
        if notes:
            out.append("")
            out.extend(f"note: {n}" for n in notes)
        return "\n".join(out)


def explain(
    definition: PlanDefinition, order_record: dict[str, Any], scenario: str = "new"
) -> Explanation:
    """The plan ``definition`` would build for ``order_record``, with every reason."""
    items = order_record.get(definition.record.lines) or []
    lines = [ln for ln in items if isinstance(ln, dict)]
    base: dict[str, Any] = {
        "plan": definition.name,
        "scenario": scenario,
        "order_id": str(order_record.get("Id") or "?"),
        "line_count": len(lines),
    }
    try:
        expansion = expand(definition, order_record, scenario)
    except UnknownScenario as exc:
        return Explanation(**base, error=str(exc))
    return Explanation(**base, rules=expansion.rules, steps=expansion.steps)


def _rule_lines(rule: RuleResult) -> list[str]:
    what = f"rule {rule.group} ({rule.scope.value} scope: {rule.rule})"
    if not rule.fired:
        reason = "the order has no lines" if rule.total == 0 else f"no line has {rule.rule}"
        if rule.scope is ScopeKind.ORDER:
            return [f"{what} did not fire: {reason}; its steps are left out"]
        return [f"{what} matched 0 of {rule.total} lines: {reason}"]
    matched = ", ".join(f"{lid} ({why})" for lid, why in rule.matched)
    out = [f"{what} matched {len(rule.matched)} of {rule.total} lines: {matched}"]
    out.extend(f"  not {lid}: {why}" for lid, why in rule.unmatched)
    for key, members in rule.bundles:
        out.append(f"  bundle {key}: {', '.join(members)}")
    return out


def _step_lines(n: int, si: StepInstance, width: int) -> list[str]:
    sd = si.definition
    kind = sd.kind.value
    if sd.connector:
        kind += f" {sd.connector}:{sd.action}"
    line = f"  {n:>2}. {si.key:<{width}}  {kind}"
    if si.depends_on:
        line += f"  after {', '.join(si.depends_on)}"
    out = [line]
    if si.skip_reason is not None:
        out.append(f"      skipped: {si.skip_reason}")
    elif si.verdict is not None:
        out.append(f"      runs: {si.verdict.reason}")
    flags = [
        f
        for f, on in (
            ("point of no return", sd.ponr),
            (f"compensated by {sd.compensation}", bool(sd.compensation)),
        )
        if on
    ]
    if flags:
        out.append("      " + "; ".join(flags))
    return out
