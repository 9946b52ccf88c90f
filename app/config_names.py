"""Setting names: environment variables that name no setting, and did-you-mean hints.

pydantic-settings reads only the variables of known fields, so a misspelt top-level
variable (``REVFLOW_API_PROT``) would be ignored; ``unknown_variables`` finds those.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from revflow.connector_settings import TYPE_TAGS, setting_keys

# REVFLOW_* variables that are read by the tests, benchmarks and sandbox, not settings
NOT_SETTINGS = frozenset(
    {
        "CONFIG_FILE",
        "TEST_DATABASE_URL",
        "TEST_AMQP_URL",
        "BENCH_DATABASE_URL",
        "TRYTON_CACHE",
    }
)


def env_name(prefix: str, loc: Iterable[Any]) -> str:
    """``("erp", "secrets", 0)`` -> ``REVFLOW_ERP__SECRETS[0]``."""
    names: list[str] = []
    for part in loc:
        if isinstance(part, int) and names:
            names[-1] += f"[{part}]"
        else:
            names.append(str(part).upper())
    return prefix + "__".join(names)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_variables(
    environ: Mapping[str, str], prefix: str, model: type[BaseModel]
) -> list[tuple[str, str]]:
    """``(variable, hint)`` for each ``prefix`` variable whose top-level name is no field."""
    fields = {name.upper() for name in model.model_fields}
    unknown = []
    for key in sorted(environ):
        upper = key.upper()
        if not upper.startswith(prefix) or upper[len(prefix) :] in NOT_SETTINGS:
            continue
        top = upper[len(prefix) :].split("__", 1)[0]
        if top not in fields:
            hint = did_you_mean(top, fields)
            unknown.append((key, hint.replace(" mean ", f" mean {prefix}") if hint else ""))
    return unknown


def extra_hint(model: type[BaseModel], loc: tuple[Any, ...], prefix: str) -> str:
    """A did-you-mean for an ``extra_forbidden`` error at ``loc`` (nested sections too)."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        current = annotation
    fields = getattr(current, "model_fields", {})
    close = difflib.get_close_matches(str(loc[-1]), list(fields), n=1, cutoff=0.6)
    return f" (did you mean {env_name(prefix, (*loc[:-1], close[0]))}?)" if close else ""


def connector_hint(values: dict[str, Any], loc: tuple[Any, ...], prefix: str) -> str:
    """A did-you-mean for an unknown key of a connector, from the keys of its type."""
    at = 1 if loc[:1] == ("erp",) else 2 if loc[:1] == ("connectors",) else 0
    if not at or len(loc) != at + 1:
        return ""
    section = values.get("erp") if at == 1 else (values.get("connectors") or {}).get(loc[1])
    kind = section.get("type") if isinstance(section, dict) else None
    hint = did_you_mean(str(loc[-1]), setting_keys(str(kind or "webhook")))
    if not hint:
        return ""
    close = hint.removeprefix(" (did you mean ").removesuffix("?)")
    return f" (did you mean {env_name(prefix, (*loc[:-1], close))}?)"


def setting_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the connector union's tag, which is no part of a setting's name."""
    at = 1 if loc[:1] == ("erp",) else 2 if loc[:1] == ("connectors",) else None
    if at is not None and len(loc) > at and loc[at] in TYPE_TAGS:
        return loc[:at] + loc[at + 1 :]
    return loc
