"""Fixtures of the operators' sign-in tests (helpers in helpers.py)."""

import pytest
from django.core.cache import cache

from cryptr_sso.celery import app as celery_app

from .helpers import give_totp, make_operator


@pytest.fixture(autouse=True)
def _fast_hashing_and_fresh_limits(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Rate-limit counters and used TOTP codes live in the cache (Redis): each test starts clean.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager_celery(monkeypatch):
    """Tasks run in-process, as in the embedded default (make test sets REDIS_URL, hence a broker)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


@pytest.fixture
def operator(db):
    return make_operator()


@pytest.fixture
def totp_operator(operator):
    operator.totp_secret = give_totp(operator)
    return operator
