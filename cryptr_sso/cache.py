"""Django's Redis cache backend, with one `redis.Redis` client per connection pool; a session store on it.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache command (its
`__init__` sets up the response callbacks: about half the CPU of a command). The client object holds
no connection of its own when it is not a single-connection client: every command takes a connection
from the pool and gives it back, so one client per pool serves every thread. The pool stays Django's
(one per server, built lazily), and redis-py's `ConnectionPool` checks its pid on each checkout and
starts over with fresh connections in a forked child (gunicorn and Celery prefork workers), so
keeping the client does not carry a parent's socket across a fork.
"""

import threading

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, UpdateError
from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.crypto import get_random_string


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._clients_lock = threading.Lock()

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None or client.connection_pool is not pool:
            with self._clients_lock:
                client = self._clients.get(id(pool))
                if client is None or client.connection_pool is not pool:
                    client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class SharedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with `SharedClientRedisCacheClient`."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient


class SessionStore(CacheSessionStore):
    """Django's cache session store (`SESSION_ENGINE = "cryptr_sso.cache"` with Redis), with fewer round trips.

    - Saving an existing session is one `SET ... XX` (written only if the key still exists): Django's store
      reads the key first and raises `UpdateError` when it is gone (a session ended meanwhile, e.g. by a
      single logout, must not come back). The same refusal, now atomic, in one command instead of two.
    - A new session key is not looked up before use: `create()` writes it with `SET ... NX` (`add`) and
      draws another key on a collision, so the `EXISTS` Django makes first adds nothing (32 random
      characters of 36 are 165 bits).
    Any other cache backend keeps Django's code."""

    def _get_new_session_key(self):
        return get_random_string(32, VALID_KEY_CHARS)

    def save(self, must_create=False):
        backend = self._cache
        client = getattr(backend, "_cache", None) if isinstance(backend, RedisCache) else None
        if must_create or self.session_key is None or not isinstance(client, RedisCacheClient):
            return super().save(must_create=must_create)
        timeout = backend.get_backend_timeout(self.get_expiry_age())
        if timeout == 0:
            return super().save(must_create=must_create)
        key = backend.make_and_validate_key(self.cache_key)
        value = client._serializer.dumps(self._get_session())
        if not client.get_client(key, write=True).set(key, value, ex=timeout, xx=True):
            raise UpdateError
