"""Django's Redis cache backend, with one `redis.Redis` client per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache command (its
`__init__` sets up the response callbacks: about half the CPU of a command). The client object holds
no connection of its own when it is not a single-connection client: every command takes a connection
from the pool and gives it back, so one client per pool serves every thread. The pool stays Django's
(one per server, built lazily), and redis-py's `ConnectionPool` checks its pid on each checkout and
starts over with fresh connections in a forked child (gunicorn and Celery prefork workers), so
keeping the client does not carry a parent's socket across a fork.
"""

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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
