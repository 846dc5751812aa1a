#!/usr/bin/env python3
"""Throughput and latency of the users API of one large organization, against a real server.

    .venv/bin/python benchmarks/api_users.py                 # 100,000 users, 1 gunicorn worker
    .venv/bin/python benchmarks/api_users.py --workers 1,2   # then again with 2 workers
    .venv/bin/python benchmarks/api_users.py --users 2000    # a quick run
    make bench-api BENCH_ARGS="--users 2000"

What it does, in order:
  1. creates the PostgreSQL database `cryptr_bench` if missing and migrates it;
  2. seeds an organization `bench-<N>-users` with N users (one SAML identity each) by bulk insert through
     the ORM (not through the API: 100,000 POSTs would take minutes), or reuses it when a previous run
     left it complete; users created by earlier measurements are deleted; VACUUM ANALYZE the two tables;
  3. creates an API key limited to that organization and issues an access token through the real
     services (organizations.services);
  4. starts gunicorn (sync workers, CRYPTR_ENV=production so DEBUG is off) on 127.0.0.1:8100, runs the
     HTTP client in a separate process (Python threads, one keep-alive requests.Session each; gunicorn's
     sync worker still closes every connection, as in production behind a load balancer) for fixed
     request counts with a time cap per scenario, and stops gunicorn. Besides latency and req/s it
     reads the CPU time of the gunicorn workers and of their PostgreSQL backends (/proc): CPU ms per
     request is the figure that holds when other jobs share the cores;
  5. times the SQL of a list request in-process (COUNT(*), first, last and middle page), prints a table.

Only 127.0.0.1 is contacted. Database, Redis db and port can be changed with options.
"""

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/cryptr_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
KEY_NAME = "benchmark api_users"
SEED_EMAIL_SUFFIX = "@seed.bench.example"
NEW_EMAIL_PREFIX = "new-"


# --- the HTTP client (runs in its own process: `api_users.py --client SPEC.json`) -----------------


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(server_pid: int, db_name: str) -> tuple[float, float]:
    """CPU seconds used so far by the gunicorn workers (children of the master) and by the PostgreSQL
    backends connected to the benchmark database. CPU time per request holds up far better than wall
    time when other jobs share the cores."""
    app = db = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == server_pid:
            app += _cpu_seconds(int(entry.name))
        elif cmdline.startswith("postgres: ") and f" {db_name} 127.0.0.1" in cmdline:
            db += _cpu_seconds(int(entry.name))
    return app, db


def run_scenario(
    scenario: dict, base: str, headers: dict, run_tag: str, cpu=lambda: (0.0, 0.0)
) -> tuple[list[float], dict, float, tuple[float, float]]:
    """One scenario: `count` requests from `concurrency` threads (one keep-alive session each), at most
    `time_cap` seconds. Returns the latencies of the expected answers, the other answers, the wall time
    and the server's CPU seconds (app, database) during the measured requests."""
    import requests

    paths, method = scenario["paths"], scenario["method"]
    label = scenario["name"].split()[0]

    def request(session, i):
        if method == "POST":
            body = {
                "email": f"{NEW_EMAIL_PREFIX}{run_tag}-{label}-{i}@bench.example",
                "profile": {"given_name": "Bench", "family_name": f"User {i}"},
                "meta_data": {"source": "benchmark"},
            }
            return session.post(base + paths[0], json=body, headers=headers, timeout=30)
        return session.get(base + paths[i % len(paths)], headers=headers, timeout=30)

    # Warm-up (not counted): imports, connection pools, PostgreSQL caches.
    with requests.Session() as session:
        for i in range(scenario["warmup"]):
            request(session, -1 - i - 1000 * scenario.get("round", 0))

    lock = threading.Lock()
    issued = [0]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cpu_before = cpu()
    started = time.perf_counter()
    deadline = started + scenario["time_cap"]

    def worker():
        with requests.Session() as session:
            while True:
                with lock:
                    if issued[0] >= scenario["count"] or time.perf_counter() >= deadline:
                        return
                    i = issued[0]
                    issued[0] += 1
                t0 = time.perf_counter()
                try:
                    response = request(session, i)
                    ok, why = response.status_code == scenario["expect"], str(response.status_code)
                except requests.RequestException as error:
                    ok, why = False, type(error).__name__
                elapsed = time.perf_counter() - t0
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        errors[why] = errors.get(why, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(scenario["concurrency"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_after = cpu()
    return latencies, errors, wall, (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])


def run_client(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    base = spec["base_url"]
    assert base.startswith("http://127.0.0.1:"), "the benchmark only talks to 127.0.0.1"
    headers = {"Authorization": f"Bearer {spec['token']}", "Accept": "application/json"}
    merged: dict[str, dict] = {}  # a scenario run in several rounds is reported once

    def cpu():
        return server_cpu(spec["server_pid"], spec["db_name"])

    for scenario in spec["scenarios"]:
        latencies, errors, wall, (app_cpu, db_cpu) = run_scenario(scenario, base, headers, spec["run_tag"], cpu)
        entry = merged.setdefault(
            scenario["name"],
            {
                "latencies": [],
                "errors": {},
                "wall_s": 0.0,
                "app_cpu_s": 0.0,
                "db_cpu_s": 0.0,
                "capped": False,
                "concurrency": scenario["concurrency"],
            },
        )
        entry["latencies"] += latencies
        entry["wall_s"] += wall
        entry["app_cpu_s"] += app_cpu
        entry["db_cpu_s"] += db_cpu
        entry["capped"] |= len(latencies) + sum(errors.values()) < scenario["count"]
        for why, n in errors.items():
            entry["errors"][why] = entry["errors"].get(why, 0) + n
    results = []
    for name, entry in merged.items():
        latencies = sorted(entry.pop("latencies"))
        results.append(
            {
                "name": name,
                "ok": len(latencies),
                **entry,
                "p50_ms": _percentile(latencies, 0.50) * 1000,
                "p95_ms": _percentile(latencies, 0.95) * 1000,
                "rps": len(latencies) / entry["wall_s"] if entry["wall_s"] else 0.0,
                "app_cpu_ms": entry["app_cpu_s"] * 1000 / max(1, len(latencies)),
                "db_cpu_ms": entry["db_cpu_s"] * 1000 / max(1, len(latencies)),
            }
        )
    print(json.dumps(results))


# --- setup: database, seed, key and token ----------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def ensure_database(database_url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(args) -> None:
    os.environ.update(server_env(args))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def bench_signing_key() -> str:
    """Production settings require an OIDC signing key; the benchmark makes its own, kept in var/."""
    path = ROOT / "var" / "bench-oidc-rsa.pem"
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)
    return path.read_text()


def server_env(args) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "cryptr_sso.settings",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": "cryptr-bench",
        "CRYPTR_ENV": "production",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-" + "x" * 40,
        "OIDC_RSA_PRIVATE_KEY": bench_signing_key(),
        "BASE_URL": f"http://127.0.0.1:{args.port}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }


def seed(n_users: int, reseed: bool):
    from django.db import connection, transaction

    from organizations.models import Identity, Organization, User

    domain = f"bench-{n_users}-users"
    organization = Organization.objects.filter(domain=domain).first()
    if organization is not None:
        stale = User.objects.filter(organization=organization, email__startswith=NEW_EMAIL_PREFIX)
        removed = stale.count()
        if removed:
            log(f"deleting {removed} users created by an earlier measurement")
            with transaction.atomic():
                Identity.objects.filter(user__in=stale).delete()
                stale.delete()
        seeded = User.objects.filter(organization=organization).count()
        if seeded == n_users and not reseed:
            log(f"reusing organization {domain} with {seeded:,} users (seeded by an earlier run)")
            return organization, False, 0.0
        log(f"organization {domain} has {seeded:,} users, expected {n_users:,}: seeding it again")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {Identity._meta.db_table} WHERE user_id IN "
                f"(SELECT id FROM {User._meta.db_table} WHERE organization_id = %s)",
                [organization.id],
            )
            cursor.execute(f"DELETE FROM {User._meta.db_table} WHERE organization_id = %s", [organization.id])
            organization.delete()

    log(f"seeding {n_users:,} users by bulk insert through the ORM (User.objects.bulk_create, not the API)")
    started = time.perf_counter()
    organization = Organization.objects.create(
        name=f"Bench {n_users} users",
        domain=domain,
        locality="Lyon",
        country_name="FR",
        allowed_email_domains=["seed.bench.example"],
    )
    idp_id = f"{domain.replace('-', '_')}_BenchIdp"
    batch = 5000
    for first in range(0, n_users, batch):
        with transaction.atomic():
            users = [
                User(
                    organization=organization,
                    email=f"user{i:07d}{SEED_EMAIL_SUFFIX}",
                    email_verified=True,
                    profile={"given_name": "Seed", "family_name": f"User {i}", "locale": "fr"},
                    meta_data={"employee_number": i},
                )
                for i in range(first, min(first + batch, n_users))
            ]
            User.objects.bulk_create(users)
            Identity.objects.bulk_create(
                Identity(user=user, idp_id=idp_id, provider="saml.okta", subject=user.email, data={"groups": ["staff"]})
                for user in users
            )
        if (first // batch) % 4 == 3:
            log(f"  {first + len(users):,} users")
    seconds = time.perf_counter() - started
    log(f"seeded {n_users:,} users (+ one identity each) in {seconds:.1f} s")
    return organization, True, seconds


def delete_created(organization) -> int:
    """Users created by the POST scenario go, so every measurement starts from the same N users."""
    from django.db import connection

    from organizations.models import User

    created = User.objects.filter(organization=organization, email__startswith=NEW_EMAIL_PREFIX)
    count = created.count()
    if count:
        created.delete()
    connection.close()
    return count


def vacuum_analyze() -> None:
    from django.db import connection

    from organizations.models import Identity, User

    # Autovacuum would get there on its own; doing it now makes the first run measure the steady state
    # (visibility map set, so COUNT(*) can be an index-only scan) instead of autovacuum's timing.
    with connection.cursor() as cursor:
        for model in (User, Identity):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")


def key_and_token(organization):
    from organizations import services
    from organizations.models import ApiKey

    ApiKey.objects.filter(name=KEY_NAME).delete()
    api_key, _secret = services.api_key_create(
        name=KEY_NAME, organizations=[organization], scopes=["read:users", "write:users"]
    )
    token, _access_token = services.api_token_issue(api_key=api_key)
    return token


def sql_timings(organization, repeat: int = 15) -> dict[str, float]:
    """Median time of the SQL one list request runs, timed from this process (no HTTP, no serializer)."""
    from django.db import connection

    from cryptr_sso.api.pagination import paginate
    from organizations import selectors

    queryset = selectors.user_queryset(organization=organization)
    total = queryset.count()
    ordering = ("-inserted_at", "-id")

    def timed(function) -> float:
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            function()
            samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)

    last10 = max(1, -(-total // 10))
    last100 = max(1, -(-total // 100))
    middle10, middle100 = (last10 + 1) // 2, (last100 + 1) // 2
    result = {
        "COUNT(*) of the organization's users": timed(lambda: queryset.count()),
        "paginate(): first page, per_page=10": timed(
            lambda: paginate(queryset, ordering=ordering, number=1, per_page=10)
        ),
        "paginate(): last page, per_page=10": timed(
            lambda: paginate(queryset, ordering=ordering, number=last10, per_page=10)
        ),
        "paginate(): first page, per_page=100": timed(
            lambda: paginate(queryset, ordering=ordering, number=1, per_page=100)
        ),
        "paginate(): last page, per_page=100": timed(
            lambda: paginate(queryset, ordering=ordering, number=last100, per_page=100)
        ),
        "paginate(): middle page, per_page=10": timed(
            lambda: paginate(queryset, ordering=ordering, number=middle10, per_page=10)
        ),
        "paginate(): middle page, per_page=100": timed(
            lambda: paginate(queryset, ordering=ordering, number=middle100, per_page=100)
        ),
    }
    connection.close()
    return result


# --- gunicorn --------------------------------------------------------------------------------------


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_gunicorn(args, workers: int, log_path: Path) -> subprocess.Popen:
    if port_in_use(args.port):
        sys.exit(f"Port {args.port} on 127.0.0.1 is already in use; stop what listens there first.")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        str(gunicorn),
        "cryptr_sso.wsgi:application",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--timeout",
        "60",
        "--error-logfile",
        "-",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, **server_env(args)}
    # gunicorn's own log and Django's (errors of 500 answers) go to the same file.
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    import requests

    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with code {process.returncode}; see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{args.port}/healthz", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_gunicorn(process)
    sys.exit(f"gunicorn did not answer /healthz within 30 s; see {log_path}")


def stop_gunicorn(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown; it stops its own workers
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# --- the measurement -------------------------------------------------------------------------------


def scenarios(args, domain: str, total: int, user_ids: list[str], workers: int) -> list[dict]:
    concurrency = args.concurrency or workers
    users_path = f"/api/v2/org/{domain}/users"

    rounds = max(1, args.rounds)

    def listing(label, per_page, page):
        return {
            "name": f"list {label} page, per_page={per_page} (page {page:,})",
            "method": "GET",
            "paths": [f"{users_path}?page={page}&per_page={per_page}"],
            "expect": 200,
            "count": args.list_requests,
            "warmup": args.warmup,
            "time_cap": args.time_cap / rounds,
            "concurrency": concurrency,
        }

    items = []
    for per_page in (10, 100):
        last = max(1, -(-total // per_page))
        items.append(listing("first", per_page, 1))
        items.append(listing("last", per_page, last))
        if args.middle:
            items.append(listing("middle", per_page, (last + 1) // 2))
    items.append(
        {
            "name": "get one user",
            "method": "GET",
            "expect": 200,
            "paths": [f"{users_path}/{user_id}" for user_id in user_ids],
            "count": args.get_requests,
            "warmup": args.warmup,
            "time_cap": args.time_cap / rounds,
            "concurrency": concurrency,
        }
    )
    # The reads run in interleaved rounds, so that first and last page see the same load on a shared
    # machine. Creations come last, so the lists above see exactly the seeded users.
    items = [
        dict(
            item,
            round=r,
            warmup=item["warmup"] if r == 0 else min(5, item["warmup"]),
            count=item["count"] // rounds + (1 if r < item["count"] % rounds else 0),
        )
        for r in range(rounds)
        for item in items
    ]
    items.append(
        {
            "name": "create user (POST)",
            "method": "POST",
            "paths": [users_path],
            "expect": 201,
            "count": args.create_requests,
            "warmup": args.warmup,
            "time_cap": args.time_cap,
            "concurrency": concurrency,
        }
    )
    return items


def measure(args, organization, token: str, workers: int, run_tag: str) -> list[dict]:
    from django.db import connection

    from organizations.models import User

    total = User.objects.filter(organization=organization).count()
    user_ids = [
        str(pk)
        for pk in User.objects.filter(organization=organization).order_by("?").values_list("id", flat=True)[:200]
    ]
    connection.close()
    spec = {
        "base_url": f"http://127.0.0.1:{args.port}",
        "token": token,
        "run_tag": f"{run_tag}w{workers}",
        "db_name": args.database_url.rsplit("/", 1)[1].split("?")[0],
        "scenarios": scenarios(args, organization.domain, total, user_ids, workers),
    }
    log_path = ROOT / "var" / f"bench-gunicorn-w{workers}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    spec_file = None
    process = None
    try:
        log(f"starting gunicorn: {workers} sync worker(s) on 127.0.0.1:{args.port} (log: {log_path})")
        process = start_gunicorn(args, workers, log_path)
        spec["server_pid"] = process.pid
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec_file:
            json.dump(spec, spec_file)
        budget = len(spec["scenarios"]) * (args.time_cap + 30) + 60
        log(
            f"client process: {len(spec['scenarios'])} scenarios, {spec['scenarios'][0]['concurrency']} "
            f"thread(s), at most {args.time_cap:.0f} s each"
        )
        client = subprocess.run(
            [sys.executable, __file__, "--client", spec_file.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=budget,
        )
        if client.returncode != 0:
            sys.exit(f"the client failed:\n{client.stderr[-4000:]}")
        rows = json.loads(client.stdout)
        if any(row["errors"] for row in rows):
            log(
                f"some answers were not the expected ones; the end of {log_path}:\n"
                + "\n".join(log_path.read_text().splitlines()[-15:])
            )
        return rows
    finally:
        stop_gunicorn(process)
        log("gunicorn stopped")
        if spec_file is not None:
            os.unlink(spec_file.name)


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    connection.close()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"nproc={os.cpu_count()} ({cpu}); load average at the end {load}; Python {platform.python_version()}; "
        f"PostgreSQL {pg}; client and server on the same machine"
    )


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    header = (
        f"| {'scenario':<46} | {'ok':>5} | {'p50 ms':>7} | {'p95 ms':>7} | {'req/s':>7} | "
        f"{'app CPU ms/req':>14} | {'db CPU ms/req':>13} | errors |"
    )
    print(header)
    print("|" + "|".join("-" * len(part) for part in header.split("|")[1:-1]) + "|")
    for row in rows:
        errors = ", ".join(f"{k}x{v}" for k, v in row["errors"].items()) or "-"
        if row["capped"]:
            errors += " (time cap)"
        print(
            f"| {row['name']:<46} | {row['ok']:>5} | {row['p50_ms']:>7.1f} | {row['p95_ms']:>7.1f} | "
            f"{row['rps']:>7.1f} | {_cpu(row, 'app_cpu_ms'):>14} | {_cpu(row, 'db_cpu_ms'):>13} | {errors} |"
        )


def _cpu(row: dict, key: str) -> str:
    return f"{row[key]:.2f}" if row["ok"] else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000, help="users in the organization (default 100000)")
    parser.add_argument("--workers", default="1", help="gunicorn worker counts to measure, e.g. 1 or 1,2")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="client threads (default: as many as gunicorn workers)"
    )
    parser.add_argument("--create-requests", type=int, default=1000)
    parser.add_argument("--list-requests", type=int, default=500, help="requests per list scenario")
    parser.add_argument("--get-requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20, help="uncounted requests before each scenario")
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds at most per scenario")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds of the read scenarios (their counts are split between rounds)",
    )
    parser.add_argument(
        "--no-middle",
        dest="middle",
        action="store_false",
        help="skip the middle page (the deepest one, since the second half is read backwards)",
    )
    parser.add_argument("--reseed", action="store_true", help="seed again even if the data is there")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--json-out", help="also write the figures to this JSON file")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args.client)
        return
    if "127.0.0.1" not in args.database_url or "127.0.0.1" not in args.redis_url:
        sys.exit("The benchmark only uses services on 127.0.0.1.")
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]

    ensure_database(args.database_url)
    setup_django(args)
    from django.core.management import call_command

    log("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    organization, seeded, seed_seconds = seed(args.users, args.reseed)
    log("VACUUM (ANALYZE) of the users and identities tables")
    vacuum_analyze()
    token = key_and_token(organization)
    log("API key (read:users write:users, limited to the organization) and token issued through organizations.services")

    run_tag = uuid.uuid4().hex[:8]
    load_at_start = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    all_rows = {}
    created_count = 0
    for workers in worker_counts:
        all_rows[workers] = measure(args, organization, token, workers, run_tag)
        created_count += delete_created(organization)
        vacuum_analyze()
    sql = sql_timings(organization)

    print("\n" + "=" * 100)
    how = f"seeded now by ORM bulk insert in {seed_seconds:.1f} s" if seeded else "reused seed, ORM bulk insert"
    print(f"API users benchmark: organization {organization.domain} with {args.users:,} users ({how})")
    print(f"Machine: {machine_line()}; load average at the start {load_at_start}")
    print(
        f"Server: gunicorn sync workers, CRYPTR_ENV=production (DEBUG off), PostgreSQL {args.database_url}, "
        f"Redis {args.redis_url}"
    )
    print(
        f"Client: separate process, Python threads with requests.Session; concurrency = "
        f"{args.concurrency or 'workers'}; warm-up {args.warmup} requests per scenario; "
        f"time cap {args.time_cap:.0f} s per scenario"
    )
    for workers, rows in all_rows.items():
        print_table(f"gunicorn --workers {workers}  (client threads: {args.concurrency or workers})", rows)
    print("\nSQL of one list request, timed in-process (median of 15, ms; paginate() = COUNT(*) + page + identities):")
    for name, ms in sql.items():
        print(f"  {name:<44} {ms:7.2f}")
    print(f"\n({created_count} users created by the POST scenario were deleted afterwards.)")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"users": args.users, "machine": machine_line(), "http": all_rows, "sql_ms": sql}, indent=2)
        )


if __name__ == "__main__":
    main()
