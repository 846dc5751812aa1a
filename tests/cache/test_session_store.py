"""cryptr_sso.cache.SessionStore on real Redis: a session ended elsewhere is never written back, a new
session never takes a key that is in use, and Redis sees one command per save."""

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.core.cache import cache

from cryptr_sso.cache import SessionStore

pytestmark = pytest.mark.skipif(settings.SESSION_ENGINE != "cryptr_sso.cache", reason="needs REDIS_URL")


class Commands:
    """The Redis commands the shared client sends, by name (the client is one object per pool)."""

    def __init__(self, monkeypatch):
        self.sent = []
        client = cache._cache.get_client(write=True)
        original = client.execute_command

        def execute_command(*args, **options):
            self.sent.append(args[0])
            return original(*args, **options)

        monkeypatch.setattr(client, "execute_command", execute_command)


def test_a_session_is_created_read_and_updated(monkeypatch):
    store = SessionStore()
    store["who"] = "alice"
    commands = Commands(monkeypatch)
    store.save()
    assert commands.sent == ["SET"]  # SET NX, no EXISTS first
    again = SessionStore(session_key=store.session_key)
    assert again["who"] == "alice"
    again["who"] = "bob"
    commands.sent.clear()
    again.save()
    assert commands.sent == ["SET"]  # SET XX, no GET first
    assert SessionStore(session_key=store.session_key)["who"] == "bob"
    ttl = cache._cache.get_client().ttl(cache.make_and_validate_key(store.cache_key))
    assert 0 < ttl <= settings.SESSION_COOKIE_AGE  # the update keeps the session's expiry


def test_a_session_ended_meanwhile_is_not_written_back():
    """A request still holding a session that a logout (or SLO) deleted must not resurrect it."""
    store = SessionStore()
    store["who"] = "alice"
    store.save()
    in_flight = SessionStore(session_key=store.session_key)
    in_flight.load()
    in_flight["who"] = "alice"
    SessionStore(session_key=store.session_key).delete()
    with pytest.raises(UpdateError):
        in_flight.save()
    assert SessionStore(session_key=store.session_key).load() == {}
    assert cache.get(store.cache_key) is None


def test_the_session_middleware_refuses_to_save_a_deleted_session(rf):
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.http import HttpResponse

    store = SessionStore()
    store["who"] = "alice"
    store.save()
    request = rf.get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = store.session_key

    def view(request):
        request.session["who"] = "mallory"
        SessionStore(session_key=store.session_key).delete()  # signed out while the request ran
        return HttpResponse()

    with pytest.raises(SessionInterrupted):
        SessionMiddleware(view)(request)
    assert cache.get(store.cache_key) is None


def test_a_taken_key_is_never_reused(monkeypatch):
    """No EXISTS before a new key: the SET NX must be what refuses a key already in use."""
    victim = SessionStore()
    victim["who"] = "alice"
    victim.save()
    draws = iter([victim.session_key, "k" * 32])
    monkeypatch.setattr(SessionStore, "_get_new_session_key", lambda self: next(draws))
    attacker = SessionStore()
    attacker["who"] = "mallory"
    attacker.save()
    assert attacker.session_key == "k" * 32
    assert SessionStore(session_key=victim.session_key)["who"] == "alice"
    attacker.delete()


def test_cycle_key_moves_the_data_and_drops_the_old_key():
    store = SessionStore()
    store["who"] = "alice"
    store.save()
    old = store.session_key
    store.cycle_key()
    assert store.session_key != old
    assert SessionStore(session_key=old).load() == {}
    assert SessionStore(session_key=store.session_key)["who"] == "alice"
