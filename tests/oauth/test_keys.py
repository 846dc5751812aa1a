"""The signing keys: environment first, else generated once into var/ (embedded default only)."""

import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from applications.oauth import keys


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv("OIDC_RSA_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("OIDC_RSA_PRIVATE_KEYS_INACTIVE", raising=False)


def test_embedded_default_generates_one_private_key_readable_by_its_owner_only(tmp_path):
    pem = keys.load_active_private_key(tmp_path, production=False)
    path = tmp_path / keys.KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert keys.load_active_private_key(tmp_path, production=False) == pem, "generated once, then reused"
    assert [p.name for p in tmp_path.iterdir()] == [keys.KEY_FILE_NAME], "no temporary file left behind"


def test_environment_key_wins_and_may_carry_escaped_newlines(tmp_path, monkeypatch):
    pem = keys.generate_rsa_private_key_pem()
    monkeypatch.setenv("OIDC_RSA_PRIVATE_KEY", pem.strip().replace("\n", "\\n"))
    assert keys.load_active_private_key(tmp_path, production=True) == pem
    assert not (tmp_path / keys.KEY_FILE_NAME).exists()


def test_production_refuses_to_start_without_a_key(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="OIDC_RSA_PRIVATE_KEY"):
        keys.load_active_private_key(tmp_path, production=True)


@pytest.mark.parametrize("value", ["not a key", keys.generate_rsa_private_key_pem(bits=1024)])
def test_unusable_keys_are_refused(tmp_path, monkeypatch, value):
    monkeypatch.setenv("OIDC_RSA_PRIVATE_KEY", value)
    with pytest.raises(ImproperlyConfigured):
        keys.load_active_private_key(tmp_path, production=False)


def test_inactive_keys_are_read_from_concatenated_pem_blocks(monkeypatch):
    first, second = keys.generate_rsa_private_key_pem(), keys.generate_rsa_private_key_pem()
    monkeypatch.setenv("OIDC_RSA_PRIVATE_KEYS_INACTIVE", first + second)
    assert keys.load_inactive_private_keys() == [first, second]


def test_no_inactive_keys_by_default():
    assert keys.load_inactive_private_keys() == []
