"""The keyring: envelope encryption, rotation, and where its keys come from."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from revflow.config import ConfigError, load_settings
from revflow.security.keyring import (
    Keyring,
    KeyringError,
    KeyringSettings,
    generate_key,
    is_token,
    key_id,
)


def test_round_trip_and_fresh_data_key_per_value() -> None:
    ring = Keyring([generate_key()])
    a, b = ring.encrypt("hunter2"), ring.encrypt("hunter2")
    assert a != b  # each value has its own data key and IV
    assert "hunter2" not in a
    assert ring.decrypt(a) == ring.decrypt(b) == "hunter2"
    assert ring.decrypt(ring.encrypt("")) == ""
    assert ring.decrypt(ring.encrypt("ünïcødé ✓")) == "ünïcødé ✓"


def test_token_names_the_wrapping_key() -> None:
    key = generate_key()
    token = Keyring([key]).encrypt("x")
    prefix, kid, wrapped, data = token.split(".")
    assert (prefix, kid) == ("rf1", key_id(key))
    # the data key is a Fernet token under the key-encryption key, the data under the data key
    data_key = Fernet(key).decrypt(wrapped.encode())
    assert Fernet(data_key).decrypt(data.encode()) == b"x"
    assert is_token(token) and not is_token("whsec_abc") and not is_token("a.b.c")


def test_rotation_old_and_new_keys_both_decrypt_until_rewrapped() -> None:
    old, new = generate_key(), generate_key()
    token = Keyring([old]).encrypt("refresh-token-1")
    both = Keyring([new, old])
    assert both.decrypt(token) == "refresh-token-1"
    assert both.needs_rotation(token)
    rotated = both.rotate(token)
    assert not both.needs_rotation(rotated)
    assert rotated.split(".")[3] == token.split(".")[3]  # ciphertext kept, only the key re-wrapped
    assert Keyring([new]).decrypt(rotated) == "refresh-token-1"
    with pytest.raises(KeyringError, match=key_id(old)) as err:
        Keyring([new]).decrypt(token)
    assert "not in the keyring" in str(err.value)
    assert old not in str(err.value) and new not in str(err.value)


def test_altered_token_is_refused() -> None:
    ring = Keyring([generate_key()])
    prefix, kid, wrapped, data = ring.encrypt("amount=10").split(".")
    flipped = data[:-6] + ("A" if data[-6] != "A" else "B") + data[-5:]
    forged = ".".join([prefix, kid, wrapped, flipped])
    with pytest.raises(KeyringError, match="corrupt or was altered"):
        ring.decrypt(forged)
    with pytest.raises(KeyringError, match="corrupt or was altered"):
        ring.rotate(forged)
    with pytest.raises(KeyringError, match="not an encrypted value"):
        ring.decrypt("plain text")


def test_keys_from_setting_comma_or_space_separated() -> None:
    a, b = generate_key(), generate_key()
    ring = Keyring.from_settings(KeyringSettings(keys=SecretStr(f"{a}, {b}")))
    assert ring.key_ids == [key_id(a), key_id(b)]
    assert ring.primary_id == key_id(a)


def test_keys_from_file_with_comments(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    path = tmp_path / "keys"
    path.write_text(f"# newest first\n{a}\n\n{b}  # retired 2026-11\n")
    ring = Keyring.from_settings(KeyringSettings(keys_file=path))
    assert ring.key_ids == [key_id(a), key_id(b)]


def test_bad_key_in_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"{generate_key()}\nnot-a-key\n")
    with pytest.raises(KeyringError, match=f"{path} line 2 is not a Fernet key") as err:
        Keyring.from_settings(KeyringSettings(keys_file=path))
    assert "not-a-key" not in str(err.value)


def test_bad_or_missing_key_sources_are_named(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="REVFLOW_KEYRING__KEYS key 2 is not a Fernet key"):
        Keyring.from_settings(KeyringSettings(keys=SecretStr(f"{generate_key()},short")))
    with pytest.raises(KeyringError, match="no encryption key"):
        Keyring.from_settings(KeyringSettings())
    with pytest.raises(KeyringError, match="REVFLOW_KEYRING__KEYS_FILE .*missing"):
        Keyring.from_settings(KeyringSettings(keys_file=tmp_path / "missing"))
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n")
    with pytest.raises(KeyringError, match="holds no key"):
        Keyring.from_settings(KeyringSettings(keys_file=empty))
    with pytest.raises(KeyringError, match="not both"):
        Keyring.from_settings(KeyringSettings(keys=SecretStr(generate_key()), keys_file=empty))


def test_settings_section_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("REVFLOW_KEYRING__KEYS", key)
    settings = load_settings()
    assert settings.keyring.configured
    assert key not in repr(settings) and key not in settings.model_dump_json()
    assert Keyring.from_settings(settings).primary_id == key_id(key)
    monkeypatch.setenv("REVFLOW_KEYRING__KEY", key)
    with pytest.raises(ConfigError, match="REVFLOW_KEYRING__KEY"):
        load_settings()


def test_payload_encryption_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVFLOW_KEYRING__ENCRYPT_PAYLOADS", "true")
    with pytest.raises(ConfigError, match="REVFLOW_KEYRING.*encrypt_payloads needs keys"):
        load_settings()
    monkeypatch.setenv("REVFLOW_KEYRING__KEYS", generate_key())
    assert load_settings().keyring.encrypt_payloads
