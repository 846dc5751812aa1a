"""cryptr_sso.cache: one redis.Redis per pool, still correct across threads and a fork (real Redis)."""

import os
import threading
import uuid

import pytest
from django.conf import settings
from django.core.cache import cache

from cryptr_sso.cache import SharedClientRedisCache, SharedClientRedisCacheClient

pytestmark = pytest.mark.skipif(
    not settings.CACHES["default"]["BACKEND"].endswith("SharedClientRedisCache"),
    reason="needs REDIS_URL (make test sets it)",
)


def _fresh_cache():
    return SharedClientRedisCache(settings.REDIS_URL, {"KEY_PREFIX": f"cache-test-{uuid.uuid4().hex}"})


def test_the_configured_cache_keeps_one_client_per_pool():
    client = cache._cache
    assert isinstance(client, SharedClientRedisCacheClient)
    assert client.get_client("a") is client.get_client("b", write=True)
    cache.set("shared-client", {"v": 1}, 30)
    assert cache.get("shared-client") == {"v": 1}
    cache.delete("shared-client")


def test_threads_sharing_one_client_each_read_their_own_values():
    shared = _fresh_cache()
    errors = []

    def work(n):
        for i in range(200):
            value = f"{n}-{i}-{uuid.uuid4().hex}"
            shared.set(f"k{n}", value, 30)
            got = shared.get(f"k{n}")
            if got != value:
                errors.append((n, i, got, value))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({id(shared._cache.get_client())}) == 1
    shared.delete_many([f"k{n}" for n in range(8)])


def test_a_forked_child_does_not_share_the_parents_connection():
    """The parent holds an open connection in the shared client's pool when it forks; parent and child
    then talk to Redis at the same time. A socket carried across the fork would mix their replies."""
    shared = _fresh_cache()
    shared.set("warm", "parent", 30)  # the parent's pool now has a connected socket
    parent_pool = shared._cache.get_client().connection_pool
    assert parent_pool._created_connections >= 1
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report mismatches (or a crash) through the pipe, never return into pytest
        status = b"?"
        try:
            bad = 0
            for i in range(300):
                shared.set("child", f"c{i}", 30)
                bad += shared.get("child") != f"c{i}"
            pool = shared._cache.get_client().connection_pool
            status = b"ok" if bad == 0 and pool.pid == os.getpid() else f"bad {bad} pid {pool.pid}".encode()
        except BaseException as exc:  # reported to the parent
            status = repr(exc).encode()
        finally:
            os.write(write_end, status)
            os._exit(0)
    os.close(write_end)
    mismatches = 0
    for i in range(300):
        shared.set("parent", f"p{i}", 30)
        mismatches += shared.get("parent") != f"p{i}"
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        child_status = pipe.read()
    assert child_status == b"ok"
    assert mismatches == 0
    assert shared._cache.get_client().connection_pool.pid == os.getpid()
    shared.delete_many(["warm", "parent", "child"])
