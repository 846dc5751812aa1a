"""A real Celery worker process for the tests that must see delivery as production does (retries,
countdowns, redeliveries): `celery -A cryptr_sso worker --pool=solo` on the test's Redis broker and
PostgreSQL database. Eager mode would hide all of that."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from cryptr_sso.celery import app

ROOT = Path(__file__).resolve().parents[1]


def broker_url() -> str:
    url = app.conf.broker_url or ""
    if not url.startswith("redis://") or app.conf.task_always_eager:
        pytest.skip("delivery tests need the Redis broker: run them with REDIS_URL set (make test does)")
    return url


def database_url() -> str:
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("the worker process needs a database it can share: run on PostgreSQL (make test does)")
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def clear_queue(url: str) -> None:
    # The queue, and the messages a killed worker left unacknowledged (kombu's Redis transport keeps them
    # in `unacked` until the visibility timeout).
    client = redis.Redis.from_url(url)
    client.delete("celery", "unacked", "unacked_index", "unacked_mutex")
    client.close()


def wait_for(predicate, *, timeout: float = 30, what: str = "condition", log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


class CeleryWorker:
    """The worker as a child process; `settings_module` and `env` adapt the project's settings."""

    def __init__(self, *, settings_module: str, name: str, log: Path, env: dict[str, str] | None = None):
        self.settings_module, self.name, self.log, self.env = settings_module, name, log, env or {}
        self.process: subprocess.Popen | None = None

    def start(self) -> "CeleryWorker":
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "DATABASE_URL": database_url(),
            "REDIS_URL": broker_url(),
            "CELERY_BROKER_URL": broker_url(),
            "SECRET_KEY": settings.SECRET_KEY,  # encrypted fields use keys derived from it
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        self.log.write_text("")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "cryptr_sso",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{self.name}{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while "ready." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """As if the machine died: no warm shutdown, the message stays unacknowledged."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
