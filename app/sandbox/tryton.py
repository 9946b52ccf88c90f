"""A real Tryton server on loopback, for the tests and ``revflow demo --erp tryton``.

Tryton (https://www.tryton.org) is an open-source ERP with accounting; the
``tryton`` extra installs it (``pip install -e '.[tryton]'``).  This harness (step 1 is
``tryton_build``):

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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from revflow.connectors.tryton import session_header, tryton_decode, tryton_encode
from revflow.sandbox.tryton_build import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    DATABASE,
    PRODUCT_CATEGORY,
    cached_database,
    main,
    trytond_bin,
    write_config,
)

__all__ = ["ADMIN_PASSWORD", "ADMIN_USER", "DATABASE", "TrytonServer", "cached_database"]


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
        conf = write_config(self.folder, self.port)
        self._log = open(self.folder / "trytond.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [trytond_bin("trytond"), "-c", str(conf), "-d", DATABASE],
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


if __name__ == "__main__":  # pragma: no cover
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
