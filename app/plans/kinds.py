"""Step types: the keys each type takes in a plan file and how they are read."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from revflow.mapping.loader import YamlMap
from revflow.plans.definitions import AutoSpec, ManualSpec, PauseSpec, StepDefinition, WaitSpec
from revflow.plans.reader import Reader

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
AUTO_ACTIONS = ("update_fields", "publish_event")


def kind_fields(
    r: Reader,
    sd: StepDefinition,
    raw: YamlMap,
    what: str,
    mappings: Collection[str] | None,
    connectors: Collection[str] | None,
) -> StepDefinition:
    """``sd`` with the fields of its type read from ``raw``.

    ``connectors``: known connector names, or a mapping of each to the actions it
    performs (``None``: any), to check the callout's action too.
    """
    kind = sd.kind.value
    if kind == "callout":
        connector = r.get(raw, "connector", str, what, required=True)
        action = r.get(raw, "action", str, what, required=True)
        if connector and connectors is not None and connector not in connectors:
            r.problem(
                raw.value_pos["connector"],
                f"{what}: unknown connector '{connector}' "
                f"(configured: {', '.join(sorted(connectors)) or 'none'})",
            )
        elif connector and action and isinstance(connectors, Mapping):
            actions = connectors[connector]
            if actions is not None and action not in actions:
                r.problem(
                    raw.value_pos["action"],
                    f"{what}: connector '{connector}' has no action '{action}' "
                    f"(it performs: {', '.join(sorted(actions))})",
                )
        mapping = r.get(raw, "mapping", str, what)
        if mapping and mappings is not None and mapping not in mappings:
            r.problem(
                raw.value_pos["mapping"],
                f"{what}: unknown mapping '{mapping}' "
                f"(loaded: {', '.join(sorted(mappings)) or 'none'})",
            )
        if "mapping" in raw and "payload" in raw:
            r.problem(raw.key_pos["payload"], f"{what}: use 'mapping' or 'payload', not both")
        payload = None
        if r.get(raw, "payload", YamlMap, what) is not None:
            payload = r.value(raw, "payload", what)
        return replace(
            sd,
            connector=connector,
            action=action,
            mapping=mapping,
            payload=payload,
            writes_erp_number=bool(r.get(raw, "writes_erp_number", bool, what)),
            external_id=r.external_id(raw, what),
        )
    if kind == "auto":
        return replace(sd, auto=_auto(r, raw, what))
    if kind == "wait":
        return replace(sd, wait=_wait(r, raw, what))
    if kind == "manual":
        instructions = None
        if r.get(raw, "instructions", str, what) is not None:
            instructions = r.value(raw, "instructions", what)
        return replace(sd, manual=ManualSpec(r.get(raw, "assignee", str, what), instructions))
    if kind == "pause":
        if "until" not in raw and "after" not in raw:
            r.problem(
                raw.pos,
                f"{what}: a pause needs 'until' (a date path) and/or 'after' (a duration)",
            )
        return replace(
            sd,
            pause=PauseSpec(r.path(raw, "until", what), r.duration(raw, "after", what)),
        )
    return sd


def _auto(r: Reader, raw: YamlMap, what: str) -> AutoSpec | None:
    action = r.get(raw, "action", str, what, required=True)
    if action is not None and action not in AUTO_ACTIONS:
        r.problem(
            raw.value_pos["action"],
            f"{what}: unknown auto action '{action}' (expected one of: {', '.join(AUTO_ACTIONS)})",
        )
        return None
    fields = None
    if r.get(raw, "fields", YamlMap, what, required=True) is not None:
        fields = r.value(raw, "fields", what)
    event = r.get(raw, "event", str, what, required=action == "publish_event")
    target = r.get(raw, "target", str, what) or "order"
    if action == "publish_event":
        if "target" in raw:
            r.problem(raw.key_pos["target"], f"{what}: 'target' is for update_fields")
    elif "event" in raw:
        r.problem(raw.key_pos["event"], f"{what}: 'event' is for publish_event")
    if target not in ("order", "line"):
        r.problem(raw.value_pos["target"], f"{what}: 'target' must be order or line")
    if action is None or fields is None:
        return None
    return AutoSpec(action, fields, event, target)


def _wait(r: Reader, raw: YamlMap, what: str) -> WaitSpec | None:
    signal = r.get(raw, "signal", str, what) or "event"
    if signal not in ("event", "callback"):
        r.problem(raw.value_pos["signal"], f"{what}: 'signal' must be event or callback")
    if signal == "callback" and "channel" in raw:
        r.problem(raw.key_pos["channel"], f"{what}: 'channel' is for signal: event")
    on_timeout = r.get(raw, "on_timeout", str, what) or "fail"
    if on_timeout not in ("fail", "complete"):
        r.problem(raw.value_pos["on_timeout"], f"{what}: 'on_timeout' must be fail or complete")
    key = None
    if r.get(raw, "correlation_key", str, what, required=True) is not None:
        key = r.value(raw, "correlation_key", what)
    timeout = r.duration(raw, "timeout", what)
    if key is None:
        return None
    return WaitSpec(key, signal, r.get(raw, "channel", str, what), timeout, on_timeout)
