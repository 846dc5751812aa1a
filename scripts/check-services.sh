#!/usr/bin/env bash
# The test suite runs against real PostgreSQL and Redis. Start them if this machine knows how, then
# fail loudly (never skip) when they still cannot be reached.
set -uo pipefail
pg_host=127.0.0.1; pg_port=5432; redis_port=6379

pg_up() { pg_isready -q -h "$pg_host" -p "$pg_port" 2>/dev/null || (exec 3<>/dev/tcp/$pg_host/$pg_port) 2>/dev/null; }
redis_up() { [ "$(printf 'PING\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port; cat >&3; head -c5 <&3" 2>/dev/null)" = "+PONG" ]; }

if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>/dev/null || true
  sleep 2
fi
if ! redis_up && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" --appendonly no \
    --dir /tmp 2>/dev/null || true
  sleep 1
fi
ok=0
pg_up || { echo "PostgreSQL is not reachable at $pg_host:$pg_port (the tests need it; see README.md)." >&2; ok=1; }
redis_up || { echo "Redis is not reachable at 127.0.0.1:$redis_port (the tests need it; see README.md)." >&2; ok=1; }
exit $ok
