"""Where Revflow's shipped folders are: a checkout's top-level ones, else the wheel's copy.

    migrations = shipped("migrations")   # Alembic scripts (env.py, versions/)
    mappings = shipped("mappings")       # shipped mappings, their schema and golden tests
    plans = shipped("plans")             # shipped plan files and their schema
    alerts = shipped("alerts")           # the example alert rules and their schema

In a checkout (``pip install -e .``) these are the repository's ``migrations/``,
``mappings/`` and ``plans/``, so edits show at once.  A wheel carries the same
folders as package data under ``revflow/_shipped/`` (see setup.py), which is used when
the checkout's folders are not there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Folder = Literal["migrations", "mappings", "plans", "alerts"]

_PACKAGE = Path(__file__).resolve().parent
CHECKOUT = _PACKAGE.parent  # the repository root when running from a checkout
PACKAGED = _PACKAGE / "_shipped"
# a file each folder must hold, so an unrelated folder of the same name is not taken
_MARKER: dict[Folder, str] = {
    "migrations": "env.py",
    "mappings": "mapping.schema.json",
    "plans": "plan.schema.json",
    "alerts": "rules.schema.json",
}


def shipped(name: Folder) -> Path:
    """The shipped folder ``name``; FileNotFoundError if neither copy is there."""
    candidates = (CHECKOUT / name, PACKAGED / name)
    for folder in candidates:
        if (folder / _MARKER[name]).is_file():
            return folder
    raise FileNotFoundError(
        f"Revflow's {name}/ folder was not found (looked in "
        + " and ".join(str(c) for c in candidates)
        + "); reinstall Revflow"
    )


def default_mappings_dir() -> Path:
    """``mappings`` in the working directory if there is one, else the shipped mappings.

    The default of ``REVFLOW_MAPPINGS_DIR``: a checkout or a project folder with its
    own ``mappings/`` works as before, and an installed wheel run anywhere else uses
    the mappings it ships.  A folder named explicitly is used as is.
    """
    local = Path("mappings")
    return local if local.is_dir() else shipped("mappings")


def default_plans_dir() -> Path:
    """``plans`` in the working directory if there is one, else the shipped plans."""
    local = Path("plans")
    return local if local.is_dir() else shipped("plans")
