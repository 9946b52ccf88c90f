"""Check a step's edited input before a retry saves it: pure, on the pasted text.

The input must be a JSON object, and what the step's kind reads from it must have
the shape the executor expects (``revflow.orchestration.executor``): a callout's
``payload`` an object, a validate step's ``errors`` a list of strings, a pause's
``pause.for_s`` a number, an auto step's ``fields`` an object.
"""

from __future__ import annotations

import json
from typing import Any

MAX_INPUT_CHARS = 200_000


class InputError(ValueError):
    """The edited input cannot be saved; the message says why."""


def parse_input(text: str, kind: str) -> dict[str, Any]:
    """The edited input as a dict, or ``InputError``."""
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(f"the input is longer than {MAX_INPUT_CHARS} characters")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(value, dict):
        raise InputError("the input must be a JSON object ({...})")
    _check_kind(value, kind)
    return value


def _check_kind(value: dict[str, Any], kind: str) -> None:
    if kind == "callout":
        if not isinstance(value.get("payload"), dict):
            raise InputError('a callout\'s input needs "payload": an object sent to the connector')
    elif kind == "validate":
        errors = value.get("errors", [])
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            raise InputError('"errors" must be a list of strings')
    elif kind == "pause":
        pause = value.get("pause", {})
        for_s = pause.get("for_s") if isinstance(pause, dict) else None
        if not isinstance(pause, dict) or (
            for_s is not None and (isinstance(for_s, bool) or not isinstance(for_s, int | float))
        ):
            raise InputError('"pause" must be an object whose "for_s" is a number of seconds')
    elif kind == "auto":
        spec = value.get("auto", value)
        if not isinstance(spec, dict) or not isinstance(spec.get("fields"), dict):
            raise InputError('an auto step\'s input needs "fields": an object of field values')
