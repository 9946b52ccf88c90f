"""A sandbox ERP that receives Standard Webhooks and creates numbered documents.

Contract of ``POST /webhooks/erp``:

- every delivery must carry a valid Standard Webhooks signature for one of
  ``SandboxErp.secrets`` (checked with ``revflow.connectors.signing.verify``), else 401;
- the body is ``{"type": "<document>.create", "data": {...}}``; the order is
  ``data["external_id"]``, else ``data["order_id"]`` (400/422 if unusable);
- ``sales_order.create`` makes ``SO-000001``, ``invoice.create`` makes ``INV-000001``,
  ``quote.create`` (a Salesforce Quote) makes ``QT-000001``,
  another ``<document>.create`` uses the document's initials (``credit_note`` → ``CN``);
  ``<document>.update`` replaces the data of the order's newest such document and
  ``<document>.cancel`` marks it cancelled (404 if the order has none);
- injected faults (``fail_first_attempts``, ``fail_share``) answer 503;
- a ``webhook-id`` that was already accepted gets the same document back (200, not
  201), counted in ``duplicate_accepted``.  A *new* ``webhook-id`` for the same order
  and type creates a second document and shows up in ``duplicate_documents``: that
  is the sender's bug the stats exist to catch.  A document sent again for an amended
  order carries ``data["revision"]`` (2, 3, ...): one document per revision is no
  duplicate.

Answers are ``{"id": "SO-000001", "erp_number": "SO-000001", "type": ..., "order_id":
..., "webhook_id": ..., "duplicate": bool}``; ``answer_shape`` changes where the number
sits, as other ERP teams answer: ``erp_order_number`` (``{"erp_order_number": ...}``,
no ``id``) or ``nested`` (``{"result": {"documentNo": ...}}``).  ``GET /_erp/stats`` and
``GET /_erp/deliveries`` report; ``GET``/``POST /_erp/faults`` read and set faults.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from revflow.connectors.signing import SignatureError, verify

__all__ = ["ERP_KEY", "Delivery", "Document", "SandboxErp", "create_erp_app"]

DOCUMENT_PREFIXES = {"sales_order": "SO", "invoice": "INV", "quote": "QT"}
ANSWER_SHAPES = ("flat", "erp_order_number", "nested")


def shaped(answer: dict[str, Any], shape: str) -> dict[str, Any]:
    """The flat answer moved to where an ERP answering in ``shape`` puts it."""
    if shape == "flat":
        return answer
    rest = {k: v for k, v in answer.items() if k not in ("id", "erp_number")}
    if shape == "erp_order_number":
        return {"erp_order_number": answer["id"], **rest}
    return {"result": {"documentNo": answer["id"], **rest}}


@dataclass
class Delivery:
    """One POST as the ERP saw it.  ``attempt`` counts deliveries of one webhook-id."""

    webhook_id: str | None
    type: str | None
    order_id: str | None
    received_at: float
    attempt: int
    outcome: str  # created | changed | duplicate | failed | rejected_signature | invalid
    status: int
    document: str | None = None


@dataclass
class Document:
    """A document the ERP created."""

    number: str
    doc_type: str
    order_id: str
    webhook_id: str
    created_at: float
    data: dict[str, Any]
    cancelled: bool = False
    updates: int = 0

    def answer(self, duplicate: bool) -> dict[str, Any]:
        return {
            "id": self.number,
            "cancelled": self.cancelled,
            "erp_number": self.number,
            "type": self.doc_type,
            "order_id": self.order_id,
            "webhook_id": self.webhook_id,
            "duplicate": duplicate,
        }


@dataclass
class SandboxErp:
    """State of the sandbox ERP: secrets, faults, documents and the delivery log."""

    secrets: list[str]
    fail_share: float = 0.0
    fail_first_attempts: bool = False
    seed: int | None = None
    retry_after_s: float | None = None  # sent as Retry-After on injected 503s
    answer_shape: str = "flat"  # one of ANSWER_SHAPES
    # orders whose documents the ERP refuses for good (422 credit hold): fallout
    refused_orders: set[str] = field(default_factory=set)
    tolerance_s: float = 300
    clock: Callable[[], float] = time.time
    deliveries: list[Delivery] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)  # by number
    accepted_ids: dict[str, Document] = field(default_factory=dict)  # by webhook-id
    _attempts: Counter[str] = field(default_factory=Counter)
    _numbers: Counter[str] = field(default_factory=Counter)
    # (type, order id) -> its documents, oldest first: an update finds them without a scan
    _by_order: dict[tuple[str, str], list[Document]] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set_faults(
        self,
        fail_share: float | None = None,
        fail_first_attempts: bool | None = None,
        retry_after_s: float | None = None,
        answer_shape: str | None = None,
    ) -> None:
        if answer_shape is not None:
            if answer_shape not in ANSWER_SHAPES:
                raise ValueError(f"answer_shape must be one of {', '.join(ANSWER_SHAPES)}")
            self.answer_shape = answer_shape
        if fail_share is not None:
            if not 0.0 <= fail_share <= 1.0:
                raise ValueError("fail_share must be within [0, 1]")
            self.fail_share = fail_share
        if fail_first_attempts is not None:
            self.fail_first_attempts = fail_first_attempts
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s

    def faults(self) -> dict[str, Any]:
        return {
            "fail_share": self.fail_share,
            "fail_first_attempts": self.fail_first_attempts,
            "retry_after_s": self.retry_after_s,
            "answer_shape": self.answer_shape,
        }

    def receive(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Handle one delivery; returns (status, JSON answer).  No I/O."""
        status, answer = self._receive(body, headers)
        return status, shaped(answer, self.answer_shape) if status < 300 else answer

    def _receive(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        now = self.clock()
        lower = {k.lower(): v for k, v in headers.items()}
        log = Delivery(lower.get("webhook-id"), None, None, now, 0, "invalid", 400)
        self.deliveries.append(log)
        try:
            msg_id = verify(body, headers, self.secrets, tolerance_s=self.tolerance_s, now=now)
        except SignatureError as exc:
            log.outcome, log.status = "rejected_signature", 401
            return 401, {"error": "invalid_signature", "message": str(exc)}

        self._attempts[msg_id] += 1
        log.attempt = self._attempts[msg_id]
        try:
            message = json.loads(body)
        except ValueError:
            return 400, {"error": "invalid_json", "message": "body is not JSON"}
        data = message.get("data") if isinstance(message, dict) else None
        if not isinstance(data, dict) or not isinstance(message.get("type"), str):
            return 400, {"error": "invalid_message", "message": "need 'type' and object 'data'"}
        log.type = message["type"]
        order = data.get("external_id") or data.get("order_id")
        log.order_id = None if order is None else str(order)

        if (self.fail_first_attempts and log.attempt == 1) or (
            self.fail_share > 0 and self._rng.random() < self.fail_share
        ):
            log.outcome, log.status = "failed", 503
            return 503, {"error": "unavailable", "message": "injected failure"}

        if msg_id in self.accepted_ids:
            doc = self.accepted_ids[msg_id]
            log.outcome, log.status, log.document = "duplicate", 200, doc.number
            return 200, doc.answer(duplicate=True)

        doc_type, _, verb = log.type.rpartition(".")
        if verb not in ("create", "update", "cancel") or not doc_type:
            log.status = 422
            return 422, {"error": "unsupported_type", "message": f"cannot handle {log.type!r}"}
        if log.order_id is None:
            log.status = 422
            return 422, {"error": "missing_order", "message": "need data.external_id/order_id"}
        if verb != "create":
            return self._change(log, verb, doc_type, msg_id, data)
        if log.order_id in self.refused_orders:
            log.outcome, log.status = "refused", 422
            message = f"order {log.order_id} refused: the customer is on credit hold"
            return 422, {"error": "credit_hold", "message": message}

        doc = self._create(doc_type, log.order_id, msg_id, data, now)
        log.outcome, log.status, log.document = "created", 201, doc.number
        return 201, doc.answer(duplicate=False)

    def _change(
        self, log: Delivery, verb: str, doc_type: str, msg_id: str, data: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``<document>.update`` replaces the newest document's data, ``.cancel`` marks it
        cancelled; 404 when the order has no such document."""
        docs = self.documents_of(doc_type, log.order_id or "")
        if not docs:
            log.status = 404
            return 404, {"error": "not_found", "message": f"no {doc_type} for {log.order_id}"}
        doc = max(docs, key=lambda d: d.created_at)
        if verb == "cancel":
            doc.cancelled = True
        else:
            doc.data = {**doc.data, **data}
            doc.updates += 1
        self.accepted_ids[msg_id] = doc
        log.outcome, log.status, log.document = "changed", 200, doc.number
        return 200, doc.answer(duplicate=False)

    def _create(
        self, doc_type: str, order_id: str, msg_id: str, data: dict[str, Any], now: float
    ) -> Document:
        prefix = (
            DOCUMENT_PREFIXES.get(doc_type)
            or "".join(w[0] for w in doc_type.split("_") if w).upper()
        )
        self._numbers[prefix] += 1
        number = f"{prefix}-{self._numbers[prefix]:06d}"
        doc = Document(number, doc_type, order_id, msg_id, now, data)
        self.documents[doc.number] = doc
        self._by_order.setdefault((doc_type, order_id), []).append(doc)
        self.accepted_ids[msg_id] = doc
        return doc

    def documents_of(self, doc_type: str, order_id: str) -> list[Document]:
        """The order's documents of one type, oldest first."""
        return list(self._by_order.get((doc_type, order_id), ()))

    def stats(self) -> dict[str, Any]:
        outcomes = Counter(d.outcome for d in self.deliveries)
        per_doc: dict[str, dict[str, int]] = {}
        revisions: Counter[tuple[str, str, Any]] = Counter(
            (d.doc_type, d.order_id, d.data.get("revision") or 1) for d in self.documents.values()
        )
        for doc in self.documents.values():
            by_order = per_doc.setdefault(doc.doc_type, {})
            by_order[doc.order_id] = by_order.get(doc.order_id, 0) + 1
        accepted_by_order = Counter(
            d.order_id
            for d in self.deliveries
            if d.outcome in ("created", "changed", "duplicate") and d.order_id is not None
        )
        # one pass each over revisions and documents, not one per (type, order)
        doubled = {(t, o) for (t, o, _), n in revisions.items() if n > 1}
        numbers: dict[tuple[str, Any], list[str]] = {}
        for d in self.documents.values():
            if (d.doc_type, d.order_id) in doubled:
                numbers.setdefault((d.doc_type, d.order_id), []).append(d.number)
        duplicates = [
            {
                "type": doc_type,
                "order_id": order_id,
                "count": count,
                "numbers": sorted(numbers[(doc_type, order_id)]),
            }
            for doc_type, by_order in per_doc.items()
            for order_id, count in by_order.items()
            if (doc_type, order_id) in doubled
        ]
        return {
            "deliveries_total": len(self.deliveries),
            "accepted": outcomes["created"] + outcomes["changed"] + outcomes["duplicate"],
            "changed": outcomes["changed"],
            "created": outcomes["created"],
            "duplicate_accepted": outcomes["duplicate"],
            "failed": outcomes["failed"],
            "rejected_signature": outcomes["rejected_signature"],
            "invalid": outcomes["invalid"],
            "documents": per_doc,
            "accepted_deliveries_by_order": dict(accepted_by_order),
            "duplicate_documents": duplicates,
        }


ERP_KEY = web.AppKey("sandbox_erp", SandboxErp)


async def _webhook(request: web.Request) -> web.Response:
    erp = request.app[ERP_KEY]
    status, answer = erp.receive(await request.read(), request.headers)
    headers = {}
    if status == 503 and erp.retry_after_s is not None:
        headers["Retry-After"] = str(int(erp.retry_after_s))
    return web.json_response(answer, status=status, headers=headers)


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[ERP_KEY].stats())


async def _deliveries(request: web.Request) -> web.Response:
    return web.json_response([asdict(d) for d in request.app[ERP_KEY].deliveries])


async def _faults(request: web.Request) -> web.Response:
    erp = request.app[ERP_KEY]
    if request.method == "POST":
        try:
            body = await request.json()
            share, first, retry_after, shape = (
                body.get(k)
                for k in ("fail_share", "fail_first_attempts", "retry_after_s", "answer_shape")
            )
            if first is not None and not isinstance(first, bool):
                raise ValueError("fail_first_attempts must be true or false")
            erp.set_faults(
                fail_share=None if share is None else float(share),
                fail_first_attempts=first,
                retry_after_s=None if retry_after is None else float(retry_after),
                answer_shape=shape,
            )
        except (ValueError, TypeError, AttributeError) as exc:
            return web.json_response({"error": "invalid_faults", "message": str(exc)}, status=400)
    return web.json_response(erp.faults())


def create_erp_app(erp: SandboxErp) -> web.Application:
    """The sandbox ERP's aiohttp application around ``erp``."""
    app = web.Application()
    app[ERP_KEY] = erp
    app.router.add_post("/webhooks/erp", _webhook)
    app.router.add_get("/_erp/stats", _stats)
    app.router.add_get("/_erp/deliveries", _deliveries)
    app.router.add_get("/_erp/faults", _faults)
    app.router.add_post("/_erp/faults", _faults)
    return app
