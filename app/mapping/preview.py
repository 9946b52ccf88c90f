"""Show what a mapping builds from one sample record (used by `revflow mappings preview`)."""

from __future__ import annotations

import json
from collections.abc import Mapping as AbcMapping
from pathlib import Path
from typing import Any

from revflow.mapping.compiler import load_mapping

__all__ = ["preview"]


def preview(mapping_path: str | Path, record: AbcMapping[str, Any] | str | Path) -> str:
    """The document as indented JSON; `record` is a dict or a JSON file path.

    Raises MappingLoadError / MappingEvalError (incl. MappingRuleError) with their
    file:line messages, OSError or ValueError for an unreadable record file.
    """
    mapping = load_mapping(mapping_path)
    sample = record if isinstance(record, AbcMapping) else json.loads(Path(record).read_text())
    return json.dumps(mapping.apply(sample), indent=2, default=str)
