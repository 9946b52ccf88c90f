"""Declarative Salesforce-record -> ERP-document mappings loaded from YAML.

    mapping = load_mapping("mappings/order_to_sales_order.yaml")   # compile once
    document = mapping.apply(order_record)                         # pure, fast

See docs/mappings.md for the file format.
"""

from app.mapping.compiler import compile_mapping, load_mapping
from app.mapping.errors import MappingError, MappingEvalError, MappingLoadError, Problem
from app.mapping.lint import discover_files, lint_paths
from app.mapping.model import Mapping
from app.mapping.registry import load_directory
from app.mapping.transforms import (
    CompileContext,
    TransformConfigError,
    TransformError,
    register_transform,
    transform_names,
)

__all__ = [
    "CompileContext",
    "Mapping",
    "MappingError",
    "MappingEvalError",
    "MappingLoadError",
    "Problem",
    "TransformConfigError",
    "TransformError",
    "compile_mapping",
    "discover_files",
    "lint_paths",
    "load_directory",
    "load_mapping",
    "register_transform",
    "transform_names",
]
