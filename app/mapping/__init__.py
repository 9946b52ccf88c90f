"""Declarative Salesforce-record -> ERP-document mappings loaded from YAML.

    mapping = load_mapping("mappings/order_to_sales_order.yaml")   # compile once
    document = mapping.apply(order_record)                         # pure, fast

    results = run_golden(["mappings"])           # golden tests beside the mappings
    problems = check_fields(mapping, describe)   # fields exist in the org

Hot reload is not imported with the package (it needs asyncio and a reload loop):
``from revflow.mapping.store import MappingStore`` (``store.reload_if_changed()``).
Everything imported here is pure: no asyncio, no I/O beyond reading files.
See docs/mappings.md for the file format.
"""

from revflow.mapping.compiler import compile_mapping, load_mapping
from revflow.mapping.describe import check_fields
from revflow.mapping.errors import (
    MappingError,
    MappingEvalError,
    MappingLoadError,
    MappingRuleError,
    Problem,
    RuleFailure,
)
from revflow.mapping.expressions import function_names
from revflow.mapping.golden import CaseResult, run_golden
from revflow.mapping.lint import discover_files, lint_paths
from revflow.mapping.model import Mapping
from revflow.mapping.preview import preview
from revflow.mapping.registry import load_directory
from revflow.mapping.rules import rule_names
from revflow.mapping.transforms import (
    CompileContext,
    TransformConfigError,
    TransformError,
    register_transform,
    transform_names,
)

__all__ = [
    "CaseResult",
    "CompileContext",
    "Mapping",
    "MappingError",
    "MappingEvalError",
    "MappingLoadError",
    "MappingRuleError",
    "Problem",
    "RuleFailure",
    "TransformConfigError",
    "TransformError",
    "check_fields",
    "compile_mapping",
    "discover_files",
    "function_names",
    "lint_paths",
    "load_directory",
    "load_mapping",
    "preview",
    "register_transform",
    "rule_names",
    "run_golden",
    "transform_names",
]
