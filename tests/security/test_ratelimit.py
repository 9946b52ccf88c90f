"""Rate limits: the token bucket, and the API's 429s per identity and per address."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY

from revflow.api.app import create_app
from revflow.api.http_settings import HttpSettings
from revflow.security.identity import Role
from revflow.security.ratelimit import RateLimit
from tests.securitykit import make_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_the_rate():
    clock = Clock()
    limit = RateLimit(per_minute=60, burst=3, clock=clock)
    assert [limit.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a") == pytest.approx(1.0)  # one token a second
    assert limit.take("b") == 0.0  # another key has its own bucket
    clock.now += 1.0
    assert limit.take("a") == 0.0 and limit.take("a") > 0
    clock.now += 3600
    assert [limit.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, no more


def test_keys_beyond_the_maximum_are_forgotten(monkeypatch):
    monkeypatch.setattr(RateLimit, "MAX_KEYS", 2)
    limit = RateLimit(per_minute=60, burst=1, clock=Clock())
    for key in ("a", "b", "c"):
        limit.take(key)
    assert list(limit._buckets) == ["b", "c"]


def limited(kind: str) -> float:
    return REGISTRY.get_sample_value("revflow_api_rate_limited_total", {"kind": kind}) or 0.0


@pytest.fixture
async def app(db):
    app = create_app(db, http=HttpSettings(rate_limit_per_minute=60, rate_limit_burst=3))
    app.state.rate_limit.clock = Clock()
    return app


def client(app, host: str = "10.0.0.1", headers: dict[str, str] | None = None):
    transport = httpx.ASGITransport(app=app, client=(host, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers)


async def test_an_identity_past_its_burst_gets_429_with_retry_after(app, db):
    ann, bob = await make_key(db, Role.VIEWER, "ann"), await make_key(db, Role.VIEWER, "bob")
    before = limited("identity")
    async with client(app, headers=ann.headers) as api:
        codes = [(await api.get("/api/fallout")).status_code for _ in range(3)]
        r = await api.get("/api/fallout")
    assert codes == [200, 200, 200]
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json() == {"detail": "too many requests; try again in 1 s"}
    assert limited("identity") == before + 1
    async with client(app, host="10.0.0.1", headers=bob.headers) as api:
        assert (await api.get("/api/fallout")).status_code == 200  # same address, other key
    app.state.rate_limit.clock.now += 1.0
    async with client(app, headers=ann.headers) as api:
        assert (await api.get("/api/fallout")).status_code == 200


async def test_refused_callers_are_limited_by_address_before_the_audit(app, db):
    before = limited("anonymous")
    async with client(app, host="10.0.0.7") as api:
        codes = [(await api.get("/api/fallout")).status_code for _ in range(4)]
        bad = {"Authorization": "Bearer rfk_guess"}
        assert (await api.get("/api/fallout", headers=bad)).status_code == 429
    assert codes == [401, 401, 401, 429] and limited("anonymous") == before + 2
    async with client(app, host="10.0.0.8") as api:
        assert (await api.get("/api/fallout")).status_code == 401  # another address


async def test_the_probes_are_never_limited(app):
    async with client(app) as api:
        codes = {(await api.get("/healthz")).status_code for _ in range(10)}
    assert codes == {200}


async def test_the_limit_can_be_off_and_the_document_says_429_only_when_on(db):
    key = await make_key(db, Role.VIEWER)
    off = create_app(db, http=HttpSettings(rate_limit_per_minute=0))
    async with client(off, headers=key.headers) as api:
        codes = {(await api.get("/api/fallout")).status_code for _ in range(150)}
        doc = (await api.get("/openapi.json")).json()
    assert codes == {200}
    assert "429" not in doc["paths"]["/api/fallout"]["get"]["responses"]
    on = create_app(db)
    async with client(on, headers=key.headers) as api:
        doc = (await api.get("/openapi.json")).json()
    assert "429" in doc["paths"]["/api/fallout"]["get"]["responses"]
    assert "429" not in doc["paths"]["/healthz"]["get"]["responses"]
    assert "429" not in doc["paths"]["/api/callbacks/{source}"]["post"]["responses"]
