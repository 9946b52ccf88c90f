"""A real Tryton server on loopback, for the tests and ``revflow demo --erp tryton``.

Tryton (https://www.tryton.org) is an open-source ERP with accounting; the
``tryton`` extra installs it (``pip install -e '.[tryton]'``).  This harness:

1. builds an SQLite database once, with ``trytond-admin`` (modules ``sale`` and
   ``account_invoice``) and then through proteus, as Tryton's own test scenarios
   do: a company (EUR), a fiscal year with monthly periods and invoice sequences,
   the minimal chart of accounts, a "Direct" payment term as the customer default,
   a product category ``Revflow`` with accounting (revenue/expense accounts), and
   number prefixes ``SO-`` (sales) and ``INV-`` (customer invoices).
   That takes about 30 s, so the built file is cached under
   ``$REVFLOW_TRYTON_CACHE`` (default ``~/.cache/revflow/tryton``) in a folder
   keyed by the Tryton versions, this builder's version and the month (the fiscal
   year covers six months either side of the month it was built in);
2. copies the cached file into a temporary folder for each run and starts
   ``trytond -c <conf> -d revflow`` as a subprocess on a free loopback port;
3. waits until ``common.db.login`` succeeds, and stops the process with SIGTERM
   (SIGKILL after a grace period).

``TrytonServer.connector_settings()`` gives the ``erp`` settings for Revflow;
``create_products`` does the product set-up an ERP team would do by hand (the
connector never creates products); ``rpc`` calls any method as the admin user.

    with TrytonServer() as server:
        server.create_products([("WIDGET-1", "Widget", "goods", "25")])
        settings = server.connector_settings()
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from revflow.connectors.tryton import session_header, tryton_decode, tryton_encode

__all__ = ["ADMIN_PASSWORD", "ADMIN_USER", "DATABASE", "TrytonServer", "cached_database"]

DATABASE = "revflow"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "revflow-admin"  # a throwaway loopback sandbox, never a real server
PRODUCT_CATEGORY = "Revflow"
BUILD_VERSION = "2"  # bump when the set-up below changes
_PACKAGES = ("trytond", "trytond-sale", "trytond-account-invoice", "proteus")


def _bin(name: str) -> str:
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


def _write_config(folder: Path, port: int | None = None) -> Path:
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
    conf = _write_config(folder)
    db_file = folder / f"{DATABASE}.sqlite"
    db_file.touch()
    passfile = folder / "admin-password"
    passfile.write_text(ADMIN_PASSWORD)
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    admin = _bin("trytond-admin")
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
        [sys.executable, "-m", "revflow.sandbox.tryton", "setup", str(conf)],
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TrytonServer:
    """A ``trytond`` subprocess serving a copy of the cached database."""

    def __init__(self, *, start_timeout_s: float = 60.0) -> None:
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._http: httpx.Client | None = None
        self._session: str | None = None
        self._context: dict[str, Any] = {}
        self._ids = 0

    # -- lifecycle ------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def folder(self) -> Path:
        assert self._tmp is not None, "server not started"
        return Path(self._tmp.name)

    def start(self) -> TrytonServer:
        source = cached_database()
        self._tmp = tempfile.TemporaryDirectory(prefix="revflow-tryton-")
        shutil.copyfile(source, self.folder / f"{DATABASE}.sqlite")
        self.port = _free_port()
        conf = _write_config(self.folder, self.port)
        self._log = open(self.folder / "trytond.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [_bin("trytond"), "-c", str(conf), "-d", DATABASE],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._http = httpx.Client(timeout=30)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"trytond exited ({self.process.returncode}): {self.log_tail()}")
            try:
                self._login()
                return
            except (httpx.TransportError, httpx.HTTPStatusError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("trytond did not answer in time") from None
                time.sleep(0.1)

    def log_tail(self, lines: int = 20) -> str:
        path = self.folder / "trytond.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TrytonServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- settings and admin calls -----------------------------------------------

    def connector_settings(self, **extra: Any) -> dict[str, Any]:
        """Settings for Revflow's ``erp`` connector (``type: tryton``)."""
        return {
            "type": "tryton",
            "url": self.url,
            "database": DATABASE,
            "user": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            **extra,
        }

    def _post(self, method: str, params: list[Any], auth: bool = True) -> Any:
        assert self._http is not None, "server not started"
        self._ids += 1
        headers = {}
        if auth and self._session:
            headers["Authorization"] = self._session
        response = self._http.post(
            f"{self.url}/{DATABASE}/rpc/",
            json={"id": self._ids, "method": method, "params": tryton_encode(params)},
            headers=headers,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("error") is not None:
            raise RuntimeError(f"Tryton {method}: {body['error']}")
        return tryton_decode(body.get("result"))

    def _login(self) -> None:
        result = self._post(
            "common.db.login", [ADMIN_USER, {"password": ADMIN_PASSWORD}, "en"], auth=False
        )
        self._session = session_header(ADMIN_USER, result[0], result[1])
        self._context = self._post("model.res.user.get_preferences", [True, {}])

    def rpc(self, method: str, *args: Any) -> Any:
        """Call ``method`` (e.g. ``model.sale.sale.search``) as the admin, in its context."""
        try:
            return self._post(method, [*args, self._context])
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 401:
                raise
            self._login()
            return self._post(method, [*args, self._context])

    def create_products(self, products: Iterable[tuple[str, str, str, Any]]) -> dict[str, int]:
        """Salable products ``(code, name, type goods|service, list price)`` in the
        ``Revflow`` accounting category, unless a product has that code already."""
        category = self.rpc("model.product.category.search", [("name", "=", PRODUCT_CATEGORY)])
        unit = self.rpc("model.product.uom.search", [("name", "=", "Unit")])
        ids: dict[str, int] = {}
        for code, name, kind, price in products:
            found = self.rpc("model.product.product.search", [("code", "=", code)])
            if found:
                ids[code] = found[0]
                continue
            (template,) = self.rpc(
                "model.product.template.create",
                [
                    {
                        "name": name,
                        "type": kind,
                        "salable": True,
                        "default_uom": unit[0],
                        "sale_uom": unit[0],
                        "list_price": Decimal(str(price)),
                        "account_category": category[0],
                        "products": [["create", [{"suffix_code": code}]]],
                    }
                ],
            )
            (product,) = self.rpc("model.product.product.search", [("template", "=", template)])
            ids[code] = product
        return ids

    def sales_by_reference(self) -> dict[str, list[str]]:
        """Sale numbers per reference (the Salesforce Order id), from Tryton itself."""
        sales = self.rpc(
            "model.sale.sale.search_read",
            [("reference", "!=", None)],
            0,
            None,
            None,
            ["reference", "number"],
        )
        out: dict[str, list[str]] = {}
        for sale in sales:
            out.setdefault(sale["reference"], []).append(sale["number"])
        return out


def main(argv: list[str]) -> int:  # pragma: no cover - a child process
    if len(argv) == 2 and argv[0] == "setup":
        _setup_company(argv[1])
        return 0
    if argv == ["build"]:
        print(cached_database(log=sys.stderr))
        return 0
    print("usage: python -m revflow.sandbox.tryton build", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
