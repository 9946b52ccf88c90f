"""Format templates such as `"{OrderNumber}-{Account.AccountNumber}"`.

Placeholders are source paths with an optional format spec (`{TotalAmount:.2f}`);
a null value renders as an empty string. `{value}` means the value being
transformed when the template is used as a transform.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from revflow.mapping.paths import PathRef, Scope, parse_path

__all__ = ["Template", "parse_template"]

VALUE = "value"
_TEXT, _VALUE, _PATH = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Part:
    literal: str
    kind: int
    path: PathRef | None = None
    spec: str = ""


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled template; render() never re-parses the text."""

    text: str
    parts: tuple[_Part, ...]

    def render(self, scope: Scope, value: Any = None) -> str:
        out: list[str] = []
        for part in self.parts:
            out.append(part.literal)
            if part.kind == _TEXT:
                continue
            item = part.path.get(scope) if part.path is not None else value
            if item is not None:
                out.append(format(item, part.spec))
        return "".join(out)

    def get(self, scope: Scope) -> str:
        """Render as a field source (no `{value}`)."""
        return self.render(scope)

    def __str__(self) -> str:
        return self.text


def parse_template(text: str, *, allow_value: bool) -> Template:
    """Compile a template; raises ValueError for malformed braces or paths."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"invalid format template '{text}': {exc}") from None
    parts: list[_Part] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            parts.append(_Part(literal, _TEXT))
        elif conversion:
            raise ValueError(f"invalid format template '{text}': conversions like !r unsupported")
        elif spec and "{" in spec:
            raise ValueError(f"invalid format template '{text}': nested placeholders unsupported")
        elif not name:
            raise ValueError(f"invalid format template '{text}': empty placeholder {{}}")
        elif name == VALUE and allow_value:
            parts.append(_Part(literal, _VALUE, None, spec or ""))
        else:
            parts.append(_Part(literal, _PATH, parse_path(name), spec or ""))
    return Template(text, tuple(parts))
