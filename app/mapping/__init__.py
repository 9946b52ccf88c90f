"""Declarative Salesforce-record -> ERP-document mappings loaded from YAML.

    mapping = load_mapping("mappings/order_to_sales_order.yaml")   # compile once
    document = mapping.apply(order_record)                         # pure, fast

    store = MappingStore("mappings")            # hot reload: store.reload_if_changed()
    results = run_golden(["mappings"])           # golden tests beside the mappings
    problems = check_fields(mapping, describe)   # fields exist in the org

See docs/mappings.md for the file format.
"""

from app.mapping.compiler import compile_mapping, load_mapping
from app.mapping.describe import check_fields
from app.mapping.errors import (
    MappingError,
    MappingEvalError,
    MappingLoadError,
    MappingRuleError,
    Problem,
    RuleFailure,
)
from app.mapping.expressions import function_names
from app.mapping.golden import CaseResult, run_golden
from app.mapping.lint import discover_files, lint_paths
from app.mapping.model import Mapping
from app.mapping.preview import preview
from app.mapping.registry import load_directory
from app.mapping.rules import rule_names
from app.mapping.store import MappingStore, ReloadResult
from app.mapping.transforms import (
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
    "MappingStore",
    "Problem",
    "ReloadResult",
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
