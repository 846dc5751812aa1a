import pytest

from applications.services import application_create
from connections.services import connection_create
from cryptr_sso.celery import app


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def make_connection(db):
    def make(organization, *, app_name="Misapret Portal", sso_admin_email="", **extra):
        application, _secret = application_create(
            organization=organization,
            name=app_name,
            application_type="regular_web",
            allowed_redirect_uris_after_login=["https://app.misapret.example/callback"],
        )
        return connection_create(
            organization=organization, application=application, sso_admin_email=sso_admin_email, **extra
        )

    return make
