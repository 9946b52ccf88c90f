"""Packaging beside pyproject.toml: import names and the shipped data folders.

The repository keeps the design card's top-level folders; the wheel installs them
under Revflow's own import name:

    app/          -> revflow
    connectors/   -> revflow.connectors
    migrations/, mappings/, plans/, alerts/ -> revflow._shipped.<folder> (found by app/resources.py)

so an installed Revflow migrates and runs without a checkout and puts no generic
``app`` or ``connectors`` package into site-packages.
"""

from setuptools import find_namespace_packages, find_packages, setup

SHIPPED = ("migrations", "mappings", "plans", "alerts")


def subpackages(name: str, folder: str, *, data: bool = False) -> dict[str, str]:
    """``name[.<sub>]`` -> its folder in the repository."""
    find = find_namespace_packages if data else find_packages
    mapping = {name: folder}
    for sub in find(where=folder, exclude=["*__pycache__*"]):
        mapping[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return mapping


PACKAGES = subpackages("revflow", "app") | subpackages("revflow.connectors", "connectors")
for folder in SHIPPED:
    PACKAGES |= subpackages(f"revflow._shipped.{folder}", folder, data=True)

setup(packages=list(PACKAGES), package_dir=PACKAGES)
