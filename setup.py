"""Packaging beside pyproject.toml: the shipped data folders go into the wheel.

The repository keeps ``migrations/``, ``mappings/`` and ``plans/`` at the top level;
the wheel carries them as ``app/_shipped/<folder>`` (found by ``app/resources.py``),
so an installed Revflow migrates and runs without a checkout.
"""

from setuptools import find_namespace_packages, find_packages, setup

SHIPPED = ("migrations", "mappings", "plans")


def shipped_packages() -> dict[str, str]:
    """``app._shipped.<folder>[.<sub>]`` -> its folder in the repository."""
    mapping: dict[str, str] = {}
    for folder in SHIPPED:
        mapping[f"app._shipped.{folder}"] = folder
        for sub in find_namespace_packages(where=folder, exclude=["*__pycache__*"]):
            mapping[f"app._shipped.{folder}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return mapping


DATA = shipped_packages()
setup(
    packages=find_packages(include=["app", "app.*", "connectors", "connectors.*"]) + list(DATA),
    package_dir=DATA,
)
