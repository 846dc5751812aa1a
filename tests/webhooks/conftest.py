import pytest

from cryptr_sso.celery import app
from organizations.webhooks import services

from .receiver import Receiver


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    # The receivers run on 127.0.0.1: the tests allow private addresses (production refuses them).
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def eager():
    """Tasks run in the test's process (the retry path is tested with a real worker elsewhere)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def make_endpoint(db):
    def make(organization, url, **extra):
        return services.webhook_endpoint_create(organization=organization, url=url, **extra)

    return make
