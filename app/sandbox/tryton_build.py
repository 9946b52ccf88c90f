"""The cached Tryton database behind ``TrytonServer``: built once per cache key with
``trytond-admin`` and proteus (company, fiscal year, chart of accounts, sequences, payment
term, product category), then copied for each run.  ``python -m
revflow.sandbox.tryton_build build`` builds it ahead of time.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "DATABASE",
    "PRODUCT_CATEGORY",
    "cache_root",
    "cached_database",
    "trytond_bin",
    "write_config",
]

DATABASE = "revflow"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "revflow-admin"  # a throwaway loopback sandbox, never a real server
PRODUCT_CATEGORY = "Revflow"
BUILD_VERSION = "2"  # bump when the set-up below changes
_PACKAGES = ("trytond", "trytond-sale", "trytond-account-invoice", "proteus")


def trytond_bin(name: str) -> str:
    """A console script of this interpreter's environment (``trytond``, ``trytond-admin``)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install Tryton with pip install -e '.[tryton]'")
    return found


def _versions() -> str:
    parts = []
    for package in _PACKAGES:
        try:
            parts.append(f"{package}-{importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError as exc:
            raise RuntimeError(f"{package} is not installed: pip install -e '.[tryton]'") from exc
    return "_".join(parts)


def cache_root() -> Path:
    env = os.environ.get("REVFLOW_TRYTON_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "revflow" / "tryton"


def write_config(folder: Path, port: int | None = None) -> Path:
    conf = folder / "trytond.conf"
    lines = ["[database]", "uri = sqlite://", f"path = {folder}", ""]
    if port is not None:
        lines += ["[web]", f"listen = 127.0.0.1:{port}", ""]
    conf.write_text("\n".join(lines))
    return conf


def cached_database(log: Any = None) -> Path:
    """The built SQLite file, building it first if this cache key has none."""
    key = f"{_versions()}_b{BUILD_VERSION}_{date.today():%Y-%m}"
    folder = cache_root() / key
    target = folder / f"{DATABASE}.sqlite"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per key; others wait for it
        if not target.exists():
            with tempfile.TemporaryDirectory(prefix="revflow-tryton-build-") as tmp:
                built = _build(Path(tmp), log)
                partial = folder / f".{DATABASE}.sqlite.partial"
                shutil.copyfile(built, partial)
                os.replace(partial, target)
    return target


def _build(folder: Path, log: Any) -> Path:
    conf = write_config(folder)
    db_file = folder / f"{DATABASE}.sqlite"
    db_file.touch()
    passfile = folder / "admin-password"
    passfile.write_text(ADMIN_PASSWORD)
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    admin = trytond_bin("trytond-admin")
    out = subprocess.DEVNULL if log is None else log
    for args in (
        ["--all", "--email", "admin@example.com"],
        ["-u", "sale", "account_invoice", "--activate-dependencies"],
    ):
        subprocess.run(
            [admin, "-c", str(conf), "-d", DATABASE, *args],
            env=env,
            check=True,
            stdout=out,
            stderr=out,
        )
    # proteus keeps global state: set the company and accounts up in a child process
    subprocess.run(
        [sys.executable, "-m", "revflow.sandbox.tryton_build", "setup", str(conf)],
        env=env,
        check=True,
        stdout=out,
        stderr=out,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    return db_file


def _setup_company(conf: str) -> None:  # pragma: no cover - runs in a child process
    """Company, fiscal year, chart of accounts, sequences, payment term, category."""
    from proteus import Model, config  # type: ignore[import-not-found]
    from trytond.modules.account.tests.tools import (  # type: ignore[import-not-found]
        create_chart,
        create_fiscalyear,
        get_accounts,
    )
    from trytond.modules.account_invoice.tests.tools import (  # type: ignore[import-not-found]
        create_payment_term,
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import (  # type: ignore[import-not-found]
        create_company,
        get_company,
    )

    cfg = config.set_trytond(DATABASE, config_file=conf)
    create_company(currency="EUR")
    company = get_company()
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company))
    fiscalyear.save()
    invoice_sequence = fiscalyear.invoice_sequences[0].out_invoice_sequence
    invoice_sequence.prefix = "INV-"
    invoice_sequence.save()
    fiscalyear.click("create_period")
    create_chart(company)
    accounts = get_accounts(company)

    term = create_payment_term()
    term.save()
    AccountConfig = Model.get("account.configuration")
    account_config = AccountConfig(1)
    account_config.default_customer_payment_term = term
    account_config.save()

    Category = Model.get("product.category")
    category = Category(name=PRODUCT_CATEGORY)
    category.accounting = True
    category.account_revenue = accounts["revenue"]
    category.account_expense = accounts["expense"]
    category.save()

    SaleConfig = Model.get("sale.configuration")
    sale_sequence = SaleConfig(1).sale_sequence
    sale_sequence.prefix = "SO-"
    sale_sequence.save()

    # the admin user works in the company (sales and invoices need it in the context)
    User = Model.get("res.user")
    user = User(cfg.user)
    user.companies.append(company)
    user.company = company
    user.save()


def main(argv: list[str]) -> int:  # pragma: no cover - a child process
    if len(argv) == 2 and argv[0] == "setup":
        _setup_company(argv[1])
        return 0
    if argv == ["build"]:
        print(cached_database(log=sys.stderr))
        return 0
    print("usage: python -m revflow.sandbox.tryton_build build", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
