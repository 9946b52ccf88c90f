"""No secret or token in any log line, exception text, API answer or audit export.

A whole run over loopback sockets, with everything that handles secrets switched on:
JWT login with a private key, signed ERP webhooks (secret rotation: two secrets),
signed callbacks, the keyring with payload encryption, an ERP that fails a share of
deliveries, and an org that invalidates every session once (re-authentication).  Every
log line at DEBUG, every API answer and the audit export are then searched for every
configured secret and every token the org issued.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import JSON, column, select, table

from revflow.audit.export import export
from revflow.connectors.signing import generate_secret, sign
from revflow.demo import REVFLOW_APP, DemoEnvironment
from revflow.logs import configure_logging
from revflow.sandbox.org import ConnectedApp, Session
from revflow.security.identity import Role
from revflow.security.keyring import generate_key
from tests.securitykit import make_key

pytestmark = pytest.mark.e2e


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def needles(secret: str) -> list[str]:
    """The secret and the parts of it that would show it if printed alone."""
    found = [secret]
    if secret.startswith("whsec_"):
        found.append(secret.removeprefix("whsec_"))
    if "-----BEGIN" in secret:  # each base64 line of a PEM key
        found += [ln for ln in secret.splitlines() if ln and not ln.startswith("-----")]
    if "!" in secret:  # a Salesforce session id: <org id>!<token>
        found.append(secret.split("!", 1)[1])
    return found


async def test_no_secret_in_logs_answers_or_audit(
    database_url: str, log_stream: io.StringIO
) -> None:
    callback_secret, keyring_key = generate_secret(), generate_key()
    overrides = {
        "worker": {"initial_interval_s": 0.05, "maximum_interval_s": 0.5},
        "callbacks": {"secrets": [callback_secret]},
        "keyring": {"keys": keyring_key, "encrypt_payloads": True},
        "log_level": "DEBUG",
    }
    answers: list[str] = []
    env = DemoEnvironment(
        database_url=database_url, seed=7, erp_fail_share=0.3, settings_overrides=overrides
    )
    issued: list[Session] = []  # every access token the org hands out, revoked ones too
    issue = env.org.issue_token

    def keep(app: ConnectedApp, user_id: str) -> Session:
        issued.append(issue(app, user_id))
        return issued[-1]

    env.org.issue_token = keep  # type: ignore[method-assign]
    async with env:
        assert env.settings is not None and env.revflow is not None
        env.erp.secrets.append(generate_secret())  # the ERP verifies with old and new
        ids = await env.create_orders(12)
        env.org.faults.expire_sessions = True  # every token refused once: fetch a new one
        await env.activate(ids)
        assert await env.wait_until_done(ids, timeout_s=120, final=("Completed",))

        caller = await make_key(env.revflow.db, Role.ADMIN)  # the answers, not 401s
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=env.revflow.api),
            base_url="http://revflow",
            headers=caller.headers,
        )
        async with api:
            for path in ("/api/fallout", "/readyz", "/healthz", "/metrics"):
                answer = await api.get(path)
                assert answer.status_code in (200, 503), (path, answer.text)
                answers.append(answer.text)
            for plan_id in range(1, 13):
                for path in (f"/api/plans/{plan_id}", f"/api/plans/{plan_id}/audit"):
                    answer = await api.get(path)
                    assert answer.status_code == 200, (path, answer.text)
                    answers.append(answer.text)
            body = json.dumps({"type": "shipped", "correlation_key": "nope"}).encode()
            ts = int(time.time())
            for secret in (callback_secret, generate_secret()):  # right and wrong secret
                headers = {
                    "webhook-id": f"msg_{ts}_{secret[-4:]}",
                    "webhook-timestamp": str(ts),
                    "webhook-signature": sign(f"msg_{ts}_{secret[-4:]}", ts, body, [secret]),
                    "content-type": "application/json",
                }
                answers.append(
                    (await api.post("/api/callbacks/erp", content=body, headers=headers)).text
                )

        async with env.revflow.db.read() as s:
            exported = io.StringIO()
            await export(s, exported)
            raw = table("order_snapshots", column("record", JSON()))
            stored_snapshot = await s.scalar(select(raw.c.record).limit(1))
        settings_dump = env.settings.model_dump_json() + repr(env.settings)
        secrets = [
            callback_secret,
            keyring_key,
            *env.erp.secrets,
            env.settings.salesforce.private_key.get_secret_value(),
            *(sess.token for sess in issued),
            caller.headers["Authorization"].removeprefix("Bearer "),
        ]

    logs = log_stream.getvalue()
    assert '"msg": "revflow started"' in logs and len(logs.splitlines()) > 100  # a real run
    mine = [sess for sess in issued if sess.app == REVFLOW_APP]
    assert len(mine) >= 2  # the expired session made Revflow log in again
    assert len(exported.getvalue().splitlines()) > 12  # an entry or more per order
    assert stored_snapshot is not None and list(stored_snapshot) == ["$enc"]
    haystacks = {"logs": logs, "answers": "\n".join(answers), "audit": exported.getvalue(),
                 "settings": settings_dump}  # fmt: skip
    for where, text in haystacks.items():
        for secret in secrets:
            for needle in needles(secret):
                assert needle not in text, f"a secret ({needle[:6]}...) appears in the {where}"
