"""The OpenAPI document says what the API answers, and schemathesis holds it to that.

``test_schemathesis_finds_nothing`` runs schemathesis (every check, every phase:
examples, coverage, fuzzing, stateful) over the whole document against a real uvicorn
server on loopback, once anonymously and once with an API key of each role, with a
fixed seed and a bounded number of examples per operation, and fails on any server
error or mismatch between the answers and the document.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from revflow.api.app import create_app
from revflow.config import CallbackSettings
from revflow.connectors.signing import generate_secret
from revflow.security.identity import Role
from revflow.security.keyring import Keyring, generate_key
from tests.plankit import insert_plan
from tests.securitykit import make_key, serve

ST = Path(sys.executable).parent / "st"  # schemathesis' command, in the same environment
SEED = 20261127  # fixed: CI reruns the same cases; change it to explore others
# the admin reaches every operation's logic: every phase (the coverage phase is the
# long one); the weaker roles and no key meet 401/403 early: examples and fuzzing
PHASES = {Role.ADMIN: "examples,coverage,fuzzing,stateful"}
MAX_EXAMPLES = {Role.ADMIN: 10}  # per operation and phase; 5 for the others


@pytest.fixture
async def api(db) -> AsyncIterator[str]:
    app = create_app(
        db,
        callbacks=CallbackSettings(secrets=[SecretStr(generate_secret())]),
        webhooks={"erp": "http://127.0.0.1:9/hook"},
        keyring=Keyring([generate_key()]),  # local login configured: it answers, not 503
    )
    async with serve(app) as base:
        yield base


@pytest.fixture
async def viewer(db) -> dict[str, str]:
    return (await make_key(db, Role.VIEWER)).headers


async def test_the_document_declares_problem_answers_not_fastapis(api, viewer):
    async with httpx.AsyncClient(base_url=api, headers=viewer) as client:
        doc = (await client.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = {"$ref": "#/components/schemas/Problem"}
    cancel = doc["paths"]["/api/plans/{plan_id}/cancel"]["post"]["responses"]
    for status in ("400", "413", "422"):  # bad plan id, body too large, bad body
        assert cancel[status]["content"]["application/json"]["schema"] == problem
    fallout = doc["paths"]["/api/fallout"]["get"]["responses"]
    assert "400" in fallout and "422" not in fallout and "413" not in fallout  # no body
    assert "422" not in doc["paths"]["/healthz"]["get"]["responses"]
    params = doc["paths"]["/api/orders/{order_id}"]["get"]["parameters"]
    assert params[0]["schema"]["pattern"] == "^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$"


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/plans/%C2%B3", 400, "path.plan_id: '³' is not valid"),  # a digit to str.isdigit
        ("/api/plans/2147483648", 400, "less than or equal to 2147483647"),
        ("/api/fallout?order_id=", 400, "query.order_id: '' is not valid"),
        ("/api/webhooks/%C2%994", 400, "path.connector"),
        ("/api/plans/4242", 404, "no plan 4242"),
    ],
)
async def test_bad_parameters_are_400_with_the_parameter_named(api, viewer, path, status, words):
    async with httpx.AsyncClient(base_url=api, headers=viewer) as client:
        r = await client.get(path)
    assert r.status_code == status and words in r.json()["detail"]


async def test_a_bad_body_is_422_and_its_values_are_not_echoed(api, db):
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}])
    operator = (await make_key(db, Role.OPERATOR)).headers
    async with httpx.AsyncClient(base_url=api, headers=operator) as client:
        r = await client.post(f"/api/plans/{pid}/cancel", json={"reason": 7})
    assert r.status_code == 422
    assert r.json() == {"detail": "body.reason: Input should be a valid string"}


@pytest.mark.skipif(not ST.exists(), reason="schemathesis is not installed (the dev extra)")
@pytest.mark.parametrize("role", [None, Role.VIEWER, Role.OPERATOR, Role.ADMIN])
@pytest.mark.timeout(600)  # the admin's run is one to two minutes; more on a busy machine
async def test_schemathesis_finds_nothing(api, db, capsys, tmp_path, role):
    await insert_plan(db, [{"key": "so", "kind": "callout"}])  # something to find
    headers = [f"{k}: {v}" for k, v in (await make_key(db, role)).headers.items()] if role else []
    phases = PHASES.get(role, "examples,fuzzing") if role else "examples,fuzzing"
    examples = MAX_EXAMPLES.get(role, 5) if role else 5
    report = await _schemathesis(api, tmp_path, phases, examples, *headers)
    with capsys.disabled():
        print(f"\nschemathesis ({role or 'anonymous'}): {_figures(report)}")
    selected = re.search(r"Selected: (\d+)/(\d+)", report)
    tested = re.search(r"Tested: (\d+)", report)
    assert selected and tested, report[-3000:]
    assert selected.group(1) == selected.group(2) == tested.group(1)  # every operation
    assert re.search(r"\d+ generated, \d+ passed", report), report[-3000:]


async def _schemathesis(base: str, workdir: Path, phases: str, examples: int, *headers: str) -> str:
    """Run schemathesis in ``workdir`` (where it keeps its cache); its report."""
    args = [str(ST), "run", f"{base}/openapi.json", "--checks", "all", "--workers", "1"]
    args += ["--phases", phases, "--max-examples", str(examples), "--seed", str(SEED)]
    args += ["--no-color"]
    for header in headers:
        args += ["--header", header]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=workdir,
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    return text


def _figures(report: str) -> str:
    cases = re.search(r"\d+ generated[^\n]*", report)
    ops = re.search(r"Tested: (\d+)", report)
    took = re.search(r"in ([\d.]+)s =+", report)
    return (
        f"{ops.group(1) if ops else '?'} operations, "
        f"{cases.group(0) if cases else '?'}, {took.group(1) if took else '?'} s"
    )
