"""Where the external id (the ERP's document number) sits in a connector's answer.

A JMESPath expression (https://jmespath.org), compiled once::

    id || erp_number          # the default: the first of the two that is set
    erp_order_number
    result.documentNo
    data.documents[0].number

The value found must be a string or a number; anything else (nothing, an object,
a list, true/false) is no id, and ``find`` answers None.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

__all__ = ["DEFAULT_EXPRESSION", "ExternalIdPath", "compile_path"]

DEFAULT_EXPRESSION = "id || erp_number"


class ExternalIdPath:
    """A compiled expression; ``ValueError`` for a bad one, saying where it breaks."""

    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str) or not expression.strip():
            raise ValueError("an external id path must be a non-empty JMESPath expression")
        try:
            self._compiled = jmespath.compile(expression)
        except JMESPathError as exc:
            raise ValueError(_describe(expression, exc)) from None
        self.expression = expression

    def find(self, answer: Any) -> str | None:
        """The id in ``answer`` as a string, or None."""
        try:
            found = self._compiled.search(answer)
        except JMESPathError:  # e.g. a function given the wrong type of value
            return None
        if isinstance(found, bool) or not isinstance(found, str | int | float):
            return None
        text = str(found)
        return text or None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExternalIdPath) and other.expression == self.expression

    def __hash__(self) -> int:
        return hash(self.expression)

    def __repr__(self) -> str:
        return f"ExternalIdPath({self.expression!r})"


@lru_cache(maxsize=256)
def compile_path(expression: str) -> ExternalIdPath:
    """The compiled expression, shared by every connector and step that uses it."""
    return ExternalIdPath(expression)


def _describe(expression: str, exc: JMESPathError) -> str:
    position = getattr(exc, "lex_position", None)
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    reason = reason.split(": Parse error")[0].rstrip(": ")
    where = f" at character {position + 1}" if isinstance(position, int) else ""
    return f"bad JMESPath expression {expression!r}{where}: {reason}"
