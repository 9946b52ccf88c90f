"""Decompose an order into a plan draft: steps, dependencies and mapped payloads.

Pure: takes the order record and compiled mappings, returns plain data.  A mapping
that fails on this order does not stop the plan from being built; the failure is
put on the validate step, which fails with that text when it runs, so the error
reaches the operator and the Salesforce record like any other fallout.

Line and bundle steps get one draft per instance (``reserve_stock@<line id>``); a
step whose ``when:`` is false is drafted with ``skip_reason`` (created skipped).
What each kind needs at run time is in its ``input`` (see docs/plans.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from revflow.clock import aware
from revflow.mapping.paths import Scope
from revflow.plans.definitions import PlanDefinition, StepDefinition
from revflow.plans.expand import Instance, StepInstance, expand
from revflow.plans.retry import policy_to_json


class CompiledMapping(Protocol):
    @property
    def content_hash(self) -> str: ...

    def apply(self, record: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StepDraft:
    key: str
    position: int
    kind: str
    depends_on: tuple[str, ...]
    connector: str | None
    action: str | None
    idempotency_key: str
    input: dict[str, Any]
    mapping_hash: str | None
    # from the plan definition, for the Step columns of the same names
    scope_key: str | None = None  # line id or bundle value; None for order scope
    group: str | None = None
    skip_reason: str | None = None  # set: the `when:` condition was false -> skipped
    ponr: bool = False
    compensation_key: str | None = None  # instance key of the compensating step
    expected_duration_s: float | None = None
    retry_policy: dict[str, Any] | None = None
    wait_key: str | None = None  # rendered correlation key of a wait step
    wait_timeout_s: float | None = None
    pause_until: datetime | None = None  # absolute end of a pause, when known now
    pause_for_s: float | None = None  # relative pause, from when the step is ready
    assignee: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


@dataclass(frozen=True)
class PlanDraft:
    order_id: str
    definition: str
    scenario: str
    correlation_id: str
    steps: tuple[StepDraft, ...]
    mapping_hashes: dict[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


def idempotency_key(order_id: str, scenario: str, definition: str, step_key: str) -> str:
    """Deterministic per step: the same step of the same order always gets the same key."""
    raw = f"{order_id}:{scenario}:{definition}:{step_key}".encode()
    return hashlib.sha256(raw).hexdigest()[:40]


def correlation_id_for(order_id: str) -> str:
    return "rf-" + hashlib.sha256(order_id.encode()).hexdigest()[:16]


class _Payloads:
    """Applies each mapping once per scope instance, collecting hashes and errors."""

    def __init__(self, mappings: MappingABC[str, CompiledMapping]) -> None:
        self.mappings = mappings
        self.hashes: dict[str, str] = {}
        self.errors: list[str] = []
        self.done: dict[tuple[str, str | None], dict[str, Any]] = {}

    def get(self, name: str, inst: Instance) -> dict[str, Any]:
        slot = (name, inst.scope_key)
        if slot in self.done:
            return self.done[slot]
        self.done[slot] = {}
        mapping = self.mappings.get(name)
        if mapping is None:
            self._error(f"mapping {name!r} is not loaded")
            return {}
        self.hashes[name] = mapping.content_hash
        try:
            self.done[slot] = mapping.apply(inst.record)
        except Exception as exc:  # MappingEvalError and anything a bad record provokes
            self._error(str(exc))
        return self.done[slot]

    def _error(self, text: str) -> None:
        if text not in self.errors:
            self.errors.append(text)


def decompose(
    definition: PlanDefinition,
    order: dict[str, Any],
    mappings: MappingABC[str, CompiledMapping],
    scenario: str = "new",
) -> PlanDraft:
    order_id = order["Id"]
    expansion = expand(definition, order, scenario)
    payloads = _Payloads(mappings)
    for si in expansion.steps:  # map first: the validate step carries every failure
        if si.skip_reason is None:
            for sd in _with_compensation(definition, si.definition):
                if sd.mapping:
                    payloads.get(sd.mapping, si.instance)

    def ikey(key: str) -> str:
        return idempotency_key(order_id, scenario, definition.name, key)

    drafts = []
    for position, si in enumerate(expansion.steps):
        sd = si.definition
        scope = Scope(order, si.instance.item)
        step_input, extra = _input(sd, si, scope, payloads)
        comp_key = None
        if sd.compensation:
            comp = definition.step(sd.compensation)
            comp_key = _instance_key(comp.key, si)
            comp_input, _ = _input(comp, si, scope, payloads)
            step_input["compensation"] = {
                "key": comp_key,
                "kind": comp.kind.value,
                "connector": comp.connector,
                "action": comp.action,
                "idempotency_key": ikey(comp_key),
                "input": comp_input,
                "mapping_hash": payloads.hashes.get(comp.mapping or ""),
            }
        drafts.append(
            StepDraft(
                key=si.key,
                position=position,
                kind=sd.kind.value,
                depends_on=si.depends_on,
                connector=sd.connector,
                action=sd.action,
                idempotency_key=ikey(si.key),
                input=step_input,
                mapping_hash=payloads.hashes.get(sd.mapping or ""),
                scope_key=si.instance.scope_key,
                group=si.instance.group.name,
                skip_reason=si.skip_reason,
                ponr=sd.ponr,
                compensation_key=comp_key,
                expected_duration_s=sd.expected_duration_s,
                retry_policy=policy_to_json(sd.retry, sd.honour_retry_after),
                **extra,
            )
        )
    return PlanDraft(
        order_id=order_id,
        definition=definition.name,
        scenario=scenario,
        correlation_id=correlation_id_for(order_id),
        steps=tuple(drafts),
        mapping_hashes=payloads.hashes,
        errors=tuple(payloads.errors),
    )


def _with_compensation(definition: PlanDefinition, sd: StepDefinition) -> list[StepDefinition]:
    return [sd, definition.step(sd.compensation)] if sd.compensation else [sd]


def _instance_key(key: str, si: StepInstance) -> str:
    scope_key = si.instance.scope_key
    return key if scope_key is None else f"{key}@{scope_key}"


def _input(
    sd: StepDefinition, si: StepInstance, scope: Scope, payloads: _Payloads
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The step's input document and the extra StepDraft fields its kind sets."""
    kind = sd.kind.value
    if kind == "validate":
        return {"errors": payloads.errors}, {}
    if kind == "callout":
        if sd.mapping:
            payload = (
                {} if si.skip_reason else payloads.done.get((sd.mapping, si.instance.scope_key), {})
            )
        else:
            payload = sd.payload.render(scope) if sd.payload else {}
        return {"payload": payload}, {}
    if kind == "auto" and sd.auto is not None:
        spec: dict[str, Any] = {"action": sd.auto.action, "fields": sd.auto.fields.render(scope)}
        if sd.auto.action == "publish_event":
            spec["event"] = sd.auto.event
        else:
            line = sd.auto.target == "line" and si.instance.group.scope.value == "line"
            spec["object"] = "OrderItem" if line else "Order"
            spec["record_id"] = si.instance.item.get("Id") if line else scope.root.get("Id")
        return {"auto": spec}, {}
    if kind == "wait" and sd.wait is not None:
        key = sd.wait.key.render(scope)
        wait = {
            "signal": sd.wait.signal,
            "channel": sd.wait.channel,
            "key": key,
            "timeout_s": sd.wait.timeout_s,
            "on_timeout": sd.wait.on_timeout,
        }
        return {"wait": wait}, {"wait_key": str(key), "wait_timeout_s": sd.wait.timeout_s}
    if kind == "manual" and sd.manual is not None:
        text = sd.manual.instructions.render(scope) if sd.manual.instructions else None
        manual = {"assignee": sd.manual.assignee, "instructions": text}
        return {"manual": manual}, {"assignee": sd.manual.assignee}
    if kind == "pause" and sd.pause is not None:
        return _pause(sd, scope)
    return {}, {}


def _pause(sd: StepDefinition, scope: Scope) -> tuple[dict[str, Any], dict[str, Any]]:
    assert sd.pause is not None
    after = sd.pause.after_s
    if sd.pause.until is None:
        return {"pause": {"until": None, "for_s": after}}, {"pause_for_s": after}
    raw = sd.pause.until.get(scope)
    when = _as_datetime(raw)
    if when is None:
        note = f"{sd.pause.until} is {'missing' if raw is None else f'not a date: {raw!r}'}"
        return {"pause": {"until": None, "for_s": None, "note": note + "; no pause"}}, {}
    if after:
        when += timedelta(seconds=after)
    return {"pause": {"until": when.isoformat(), "for_s": None}}, {"pause_until": when}


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return aware(parsed)
