"""Invitation emails through a real Celery worker process, on the real Redis broker, to a local SMTP
server (aiosmtpd). Eager mode would hide the retries and the redeliveries, so nothing here is eager.

The tests commit (transaction=True): the worker is another process and reads the rows through its own
database connection. Each test starts from an empty queue and stops its worker."""

import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection

from onboarding import selectors, services
from onboarding.models import AdminOnboarding, OnboardingInvitation
from onboarding.tasks import send_invitation

from ..celery_worker import CeleryWorker, broker_url, clear_queue, wait_for
from .smtp_server import SmtpServer, free_port

pytestmark = [pytest.mark.django_db(transaction=True)]
LINK = re.compile(r"https?://\S+/onboarding/([A-Za-z0-9_\-]+)/")


def Worker(*, smtp_port: int, log: Path) -> CeleryWorker:
    """The worker of these tests: the project's settings with a short visibility timeout
    (worker_settings.py), mailing to the test's SMTP port."""
    return CeleryWorker(
        settings_module="tests.onboarding.worker_settings",
        name="onb",
        log=log,
        env={
            "BASE_URL": settings.BASE_URL,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_USE_TLS": "0",
            "EMAIL_TIMEOUT": "30",
            "DEFAULT_FROM_EMAIL": "Misapret SSO <sso@gateway.example>",
        },
    )


@pytest.fixture
def broker():
    url = broker_url()
    clear_queue(url)
    yield url
    clear_queue(url)


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def start_worker(broker, tmp_path):
    workers = []

    def start(smtp_port: int) -> Worker:
        worker = Worker(smtp_port=smtp_port, log=tmp_path / f"worker{len(workers)}.log").start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    # The worker's database sessions are gone with its process; ours closes so the test database can be
    # flushed and dropped.
    db_connection.close()


def sent_invitation(invitation_id: int) -> OnboardingInvitation:
    invitation = OnboardingInvitation.objects.get(pk=invitation_id)
    return invitation if invitation.sent_at else None


def test_the_invitation_email_is_delivered_by_a_worker_with_text_html_and_a_working_link(
    smtp, start_worker, make_org, make_connection
):
    organization = make_org(name="Misapret")
    connection = make_connection(organization, app_name="Misapret Portal")
    worker = start_worker(smtp.port)
    invitation, token = services.onboarding_invite(connection=connection, email="it@misapret.fr")

    wait_for(lambda: sent_invitation(invitation.id), what="the invitation to be sent", log=worker.log)
    assert len(smtp.mailbox.messages) == 1
    recipients, message = smtp.mailbox.messages[0]
    assert recipients == ["it@misapret.fr"]
    assert message["From"] == "Misapret SSO <sso@gateway.example>"
    assert "Misapret" in message["Subject"] and "Misapret Portal" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    for body in (text, html):
        assert "Misapret Portal" in body and "Misapret" in body
        assert "15 minutes" in body and "administrator access" in body
    link_token = LINK.search(text).group(1)
    assert link_token == token and f"/onboarding/{token}/" in html
    assert selectors.invitation_by_token(link_token).id == invitation.id
    expires = invitation.expires_at
    assert f"{expires:%B} {expires.day}, {expires.year}" in text

    invitation.refresh_from_db()
    assert invitation.send_attempts == 1 and invitation.last_error == ""
    assert invitation.token_encrypted == ""  # nothing readable left once sent
    assert AdminOnboarding.objects.get().invitation_sent_at == invitation.sent_at


def test_the_email_is_in_french_when_asked(smtp, start_worker, org, make_connection):
    connection = make_connection(org, app_name="Portail Misapret")
    worker = start_worker(smtp.port)
    invitation, _token = services.onboarding_invite(connection=connection, email="dsi@misapret.fr", locale="fr")
    wait_for(lambda: sent_invitation(invitation.id), what="the invitation to be sent", log=worker.log)
    _recipients, message = smtp.mailbox.messages[0]
    assert "configurez l'authentification unique" in message["Subject"] and "Portail Misapret" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "environ 15 minutes" in text and "expire le" in text
    assert message["Content-Language"] == "fr"


def test_a_refused_first_delivery_is_retried_then_delivered_once(smtp, start_worker, org, make_connection):
    smtp.mailbox.refuse = 1  # 451 to the first DATA
    connection = make_connection(org)
    worker = start_worker(smtp.port)
    invitation, _token = services.onboarding_invite(connection=connection, email="it@misapret.fr")

    sent = wait_for(lambda: sent_invitation(invitation.id), what="the retried delivery", log=worker.log)
    assert smtp.mailbox.data_commands == 2
    assert len(smtp.mailbox.messages) == 1
    assert sent.send_attempts == 2 and sent.last_error == ""
    assert "retry" in worker.log.read_text().lower()
    time.sleep(2)  # no late duplicate
    assert len(smtp.mailbox.messages) == 1


def test_an_smtp_server_down_at_first_is_retried_until_it_answers(start_worker, org, make_connection):
    port = free_port()
    connection = make_connection(org)
    worker = start_worker(port)
    invitation, _token = services.onboarding_invite(connection=connection, email="it@misapret.fr")

    failed = wait_for(
        lambda: OnboardingInvitation.objects.filter(pk=invitation.id, send_attempts__gte=1).first(),
        what="a failed first attempt",
        log=worker.log,
    )
    assert failed.sent_at is None and "ConnectionRefusedError" in failed.last_error
    server = SmtpServer(port).start()
    try:
        sent = wait_for(lambda: sent_invitation(invitation.id), timeout=60, what="the delivery", log=worker.log)
        assert len(server.mailbox.messages) == 1
        assert sent.send_attempts >= 2
    finally:
        server.stop()


def test_a_task_delivered_twice_sends_one_email(smtp, start_worker, org, make_connection):
    connection = make_connection(org)
    worker = start_worker(smtp.port)
    invitation, _token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    # The broker hands the same job over again (a redelivery, or a client that queued it twice).
    send_invitation.delay(invitation_id=invitation.id)
    send_invitation.delay(invitation_id=invitation.id)
    wait_for(lambda: sent_invitation(invitation.id), what="the invitation to be sent", log=worker.log)
    wait_for(lambda: worker.log.read_text().count("succeeded") >= 3, what="the three tasks", log=worker.log)
    assert len(smtp.mailbox.messages) == 1
    assert OnboardingInvitation.objects.get(pk=invitation.id).send_attempts == 1
    assert worker.log.read_text().count("'already_sent'") == 2


def test_a_worker_killed_mid_delivery_is_replaced_and_the_email_sent_once(smtp, start_worker, org, make_connection):
    smtp.mailbox.stall = 60  # the first DATA never gets its 250
    connection = make_connection(org)
    first = start_worker(smtp.port)
    invitation, _token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    assert smtp.mailbox.stalled.wait(30), first.log.read_text()[-3000:]
    first.kill()  # acks_late: the message was never acknowledged

    # The killed worker's transaction died with it: the attempt is not recorded, the row is not sent.
    row = OnboardingInvitation.objects.get(pk=invitation.id)
    assert row.sent_at is None
    second = start_worker(smtp.port)
    # Redelivery waits for the visibility timeout and the next restore pass of the Redis transport,
    # which a busy machine can delay well past the 4 s timeout.
    sent = wait_for(lambda: sent_invitation(invitation.id), timeout=180, what="the redelivered task", log=second.log)
    assert len(smtp.mailbox.messages) == 1
    assert sent.send_attempts == 1


def test_a_revoked_invitation_is_not_sent(smtp, start_worker, org, make_connection):
    connection = make_connection(org)
    first, _token = services.onboarding_invite(connection=connection, email="it@misapret.fr")
    second, _token = services.onboarding_invite(connection=connection)  # both queued, the first revoked
    worker = start_worker(smtp.port)
    wait_for(lambda: sent_invitation(second.id), what="the newest invitation", log=worker.log)
    wait_for(lambda: "'revoked'" in worker.log.read_text(), what="the revoked one skipped", log=worker.log)
    assert [recipients for recipients, _message in smtp.mailbox.messages] == [["it@misapret.fr"]]
    assert OnboardingInvitation.objects.get(pk=first.id).sent_at is None
