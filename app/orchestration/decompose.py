"""Decompose an order into a plan draft: steps, dependencies and mapped payloads.

Pure: takes the order record and compiled mappings, returns plain data.  A mapping
that fails on this order does not stop the plan from being built; the failure is
put on the validate step, which fails with that text when it runs, so the error
reaches the operator and the Salesforce record like any other fallout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.orchestration.definitions import PlanDefinition, StepKind


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


def decompose(
    definition: PlanDefinition,
    order: dict[str, Any],
    mappings: MappingABC[str, CompiledMapping],
    scenario: str = "new",
) -> PlanDraft:
    order_id = order["Id"]
    payloads: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    hashes: dict[str, str] = {}
    for name in definition.mappings:
        mapping = mappings.get(name)
        if mapping is None:
            errors.append(f"mapping {name!r} is not loaded")
            continue
        hashes[name] = mapping.content_hash
        try:
            payloads[name] = mapping.apply(order)
        except Exception as exc:  # MappingEvalError and anything a bad record provokes
            errors.append(str(exc))
    steps = []
    for position, sd in enumerate(definition.steps):
        if sd.kind is StepKind.VALIDATE:
            step_input: dict[str, Any] = {"errors": errors}
        else:
            step_input = {"payload": payloads.get(sd.mapping or "", {})}
        steps.append(
            StepDraft(
                key=sd.key,
                position=position,
                kind=sd.kind.value,
                depends_on=sd.depends_on,
                connector=sd.connector,
                action=sd.action,
                idempotency_key=idempotency_key(order_id, scenario, definition.name, sd.key),
                input=step_input,
                mapping_hash=hashes.get(sd.mapping or ""),
            )
        )
    return PlanDraft(
        order_id=order_id,
        definition=definition.name,
        scenario=scenario,
        correlation_id=correlation_id_for(order_id),
        steps=tuple(steps),
        mapping_hashes=hashes,
        errors=tuple(errors),
    )
