"""Our Standard Webhooks signatures against the independent ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from revflow.connectors.signing import SignatureError, decode_secret, generate_secret, sign, verify

BODY = b'{"type":"sales_order.create","data":{"order_id":"801xx0000001"}}'


def headers_for(msg_id: str, ts: int, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_generated_secret_is_whsec_base64() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(decode_secret(secret)) == 32
    assert generate_secret() != secret


def test_their_checker_accepts_our_signature() -> None:
    secret = generate_secret()
    ts = int(time.time())
    signature = sign("msg_abc", ts, BODY, [secret])
    assert signature.startswith("v1,") and " " not in signature
    parsed = Webhook(secret).verify(BODY, headers_for("msg_abc", ts, signature))
    assert parsed["data"]["order_id"] == "801xx0000001"


def test_our_checker_accepts_their_signature() -> None:
    secret = generate_secret()
    ts = int(time.time())
    theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(ts, UTC), BODY.decode())
    assert verify(BODY, headers_for("msg_1", ts, theirs), [secret]) == "msg_1"
    assert theirs == sign("msg_1", ts, BODY, [secret])


def test_known_vector_from_the_spec_library() -> None:
    # The reference library's own test secret and message.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    ts = 1614265330
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body, [secret]) == expected
    verify(body, headers_for("msg_p5jXN8AQM9LWM0D4loKWxJek", ts, expected), [secret], now=ts)


def test_rotation_signs_with_every_secret() -> None:
    old, new = generate_secret(), generate_secret()
    ts = int(time.time())
    signature = sign("msg_rot", ts, BODY, [new, old])
    assert len(signature.split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers_for("msg_rot", ts, signature))
        assert verify(BODY, headers_for("msg_rot", ts, signature), [secret]) == "msg_rot"
    # A receiver holding both secrets accepts a sender that only knows the old one.
    only_old = sign("msg_rot", ts, BODY, [old])
    assert verify(BODY, headers_for("msg_rot", ts, only_old), [new, old]) == "msg_rot"
    with pytest.raises(SignatureError):
        verify(BODY, headers_for("msg_rot", ts, only_old), [new])


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_or_future_timestamp_rejected(offset: int) -> None:
    secret = generate_secret()
    now = time.time()
    ts = int(now) + offset
    signature = sign("msg_t", ts, BODY, [secret])
    with pytest.raises(SignatureError, match="too (old|new)"):
        verify(BODY, headers_for("msg_t", ts, signature), [secret], now=now)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers_for("msg_t", ts, signature))


def test_custom_tolerance() -> None:
    secret = generate_secret()
    ts = 1_700_000_000
    signature = sign("msg_t", ts, BODY, [secret])
    verify(BODY, headers_for("msg_t", ts, signature), [secret], tolerance_s=60, now=ts + 59)
    with pytest.raises(SignatureError):
        verify(BODY, headers_for("msg_t", ts, signature), [secret], tolerance_s=60, now=ts + 61)


def test_tampered_body_id_or_timestamp_rejected() -> None:
    secret = generate_secret()
    ts = int(time.time())
    signature = sign("msg_x", ts, BODY, [secret])
    tampered = BODY.replace(b"0001", b"0002")
    with pytest.raises(SignatureError, match="no matching"):
        verify(tampered, headers_for("msg_x", ts, signature), [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers_for("msg_x", ts, signature))
    with pytest.raises(SignatureError):
        verify(BODY, headers_for("msg_y", ts, signature), [secret])
    with pytest.raises(SignatureError):
        verify(BODY, headers_for("msg_x", ts + 1, signature), [secret])


def test_wrong_secret_rejected() -> None:
    ts = int(time.time())
    signature = sign("msg_x", ts, BODY, [generate_secret()])
    with pytest.raises(SignatureError):
        verify(BODY, headers_for("msg_x", ts, signature), [generate_secret()])


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_rejected(missing: str) -> None:
    secret = generate_secret()
    ts = int(time.time())
    headers = headers_for("msg_m", ts, sign("msg_m", ts, BODY, [secret]))
    del headers[missing]
    with pytest.raises(SignatureError, match="missing"):
        verify(BODY, headers, [secret])


def test_header_names_are_case_insensitive_and_junk_entries_ignored() -> None:
    secret = generate_secret()
    ts = int(time.time())
    good = sign("msg_c", ts, BODY, [secret])
    headers = {
        "Webhook-Id": "msg_c",
        "Webhook-Timestamp": str(ts),
        "Webhook-Signature": f"v1a,abc v1,!!notbase64 v2,{good[3:]} {good}",
    }
    assert verify(BODY, headers, [secret]) == "msg_c"
    headers["Webhook-Signature"] = f"v2,{good[3:]}"
    with pytest.raises(SignatureError):
        verify(BODY, headers, [secret])


def test_non_integer_timestamp_rejected() -> None:
    secret = generate_secret()
    headers = headers_for("msg_n", 0, sign("msg_n", 0, BODY, [secret]))
    headers["webhook-timestamp"] = "yesterday"
    with pytest.raises(SignatureError, match="integer"):
        verify(BODY, headers, [secret])


def test_secret_forms() -> None:
    key = b"0123456789abcdef0123456789abcdef"
    b64 = base64.b64encode(key).decode()
    assert decode_secret("whsec_" + b64) == key
    assert decode_secret(b64) == key  # prefix optional, as in the reference library
    assert decode_secret("whsec_" + b64.rstrip("=")) == key  # unpadded base64
    assert decode_secret(key) == key  # raw key bytes
    for bad in ("whsec_", "whsec_not base64!", ""):
        with pytest.raises(ValueError):
            decode_secret(bad)
    with pytest.raises(ValueError):
        sign("msg", 0, BODY, [])
