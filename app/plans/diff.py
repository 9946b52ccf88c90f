"""Compare a plan with the draft of its amended order: pure functions on plain data.

An amendment (a line's quantity changed, a line added or removed) is decomposed
like a new order; ``diff_plan`` compares that draft with the plan's steps by key:

- **added**: in the draft, not in the plan (or discarded by an earlier amendment);
- **removed**: in the plan, not in the draft (or the draft now skips it);
- **changed**: in both, with a different input (the mapped payload), or skipped
  before and to run now.

Steps an earlier amendment added from the plan's ``amendment`` scenario
(``amend_sales_order~v2``) belong to that amendment and are not compared.

``blocking_ponr`` says whether a point of no return stops the amendment: a PONR
step that has started and that the amendment changes or removes, or that belongs
to a line the amendment touches.  Lines it leaves alone may be past their PONR.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from revflow.plans.decompose import StepDraft
from revflow.plans.ponr import NOT_STARTED
from revflow.plans.state import StepState

SCENARIO_MARK = "~"  # in the key of a step an amendment scenario added: not diffed


@dataclass(frozen=True)
class CurrentStep:
    """What the diff needs of a stored step."""

    key: str
    state: StepState
    input: Mapping[str, Any]
    scope_key: str | None = None
    ponr: bool = False


@dataclass(frozen=True)
class PlanDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def affected(self) -> frozenset[str]:
        """Steps whose done work may have to be undone: removed or changed."""
        return frozenset(self.removed) | frozenset(self.changed)

    def summary(self) -> dict[str, list[str]]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
        }


def diff_plan(current: Iterable[CurrentStep], draft: Iterable[StepDraft]) -> PlanDiff:
    """What the amended draft adds, removes and changes, in plan order."""
    wanted = {d.key: d for d in draft}
    have = {
        c.key: c
        for c in current
        if c.state is not StepState.DISCARDED and SCENARIO_MARK not in c.key
    }
    added = [k for k, d in wanted.items() if k not in have and not d.skipped]
    removed, changed = [], []
    for key, step in have.items():
        new = wanted.get(key)
        if new is None or (new.skipped and step.state is not StepState.SKIPPED):
            if step.state is not StepState.SKIPPED:
                removed.append(key)
        elif not new.skipped and (
            step.state is StepState.SKIPPED or _comparable(step.input) != _comparable(new.input)
        ):
            changed.append(key)
    return PlanDiff(tuple(added), tuple(removed), tuple(changed))


def _comparable(step_input: Mapping[str, Any]) -> dict[str, Any]:
    """The input without what an earlier amendment stamped on it."""
    out = dict(step_input)
    payload = out.get("payload")
    if isinstance(payload, dict) and "revision" in payload:
        out["payload"] = {k: v for k, v in payload.items() if k != "revision"}
    comp = out.get("compensation")
    if isinstance(comp, dict) and "idempotency_key" in comp:
        out["compensation"] = {k: v for k, v in comp.items() if k != "idempotency_key"}
    return out


def blocking_ponr(current: Sequence[CurrentStep], diff: PlanDiff) -> CurrentStep | None:
    """The started PONR step that makes this amendment impossible, if any."""
    by_key = {c.key: c for c in current}
    lines = {by_key[k].scope_key for k in diff.affected if by_key[k].scope_key}
    for step in current:
        if not step.ponr or step.state in NOT_STARTED or step.state is StepState.DISCARDED:
            continue
        if step.key in diff.affected or (step.scope_key and step.scope_key in lines):
            return step
    return None


def scenario_steps(
    steps: Iterable[StepDraft], label: str, version: int | None = None
) -> list[StepDraft]:
    """A change scenario's steps as they join a plan: keys ``<key>~<label>`` (``~v2``
    for an amendment, ``~cancel``; kept out of later diffs), dependencies among them
    renamed alike, and with ``version`` fresh idempotency keys for that version."""
    steps = list(steps)
    own = {s.key for s in steps}

    def name(key: str) -> str:
        return f"{key}{SCENARIO_MARK}{label}"

    return [
        replace(
            s,
            key=name(s.key),
            depends_on=tuple(name(d) for d in s.depends_on if d in own),
            idempotency_key=versioned_key(s.idempotency_key, version)
            if version
            else s.idempotency_key,
        )
        for s in steps
        if not s.skipped
    ]


def versioned_key(key: str, version: int) -> str:
    """The idempotency key of a step run again for plan ``version``: new, deterministic."""
    return hashlib.sha256(f"{key}:v{version}".encode()).hexdigest()[:40]


def rerun_input(step_input: Mapping[str, Any], version: int) -> dict[str, Any]:
    """A changed step's new input when it runs again: the payload says its revision
    (receivers replace the document they hold) and a compensation gets a fresh key."""
    out = dict(step_input)
    if isinstance(out.get("payload"), dict):
        out["payload"] = {**out["payload"], "revision": version}
    comp = out.get("compensation")
    if isinstance(comp, dict) and comp.get("idempotency_key"):
        out["compensation"] = {
            **comp,
            "idempotency_key": versioned_key(str(comp["idempotency_key"]), version),
        }
    return out


# -- the draft kept on the plan while the amendment runs (Plan.amendment) -----------


def draft_to_json(steps: Iterable[StepDraft]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        d = asdict(step)
        d["depends_on"] = list(step.depends_on)
        d["pause_until"] = step.pause_until.isoformat() if step.pause_until else None
        out.append(d)
    return out


def draft_from_json(rows: Iterable[Mapping[str, Any]]) -> list[StepDraft]:
    out = []
    for row in rows:
        d = dict(row)
        d["depends_on"] = tuple(d.get("depends_on") or ())
        until = d.get("pause_until")
        d["pause_until"] = datetime.fromisoformat(until) if until else None
        out.append(StepDraft(**d))
    return out
