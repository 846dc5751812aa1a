"""Password reset by email: allauth's flow, its email delivered by the Celery task after commit."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from cryptr_sso.accounts import tasks
from cryptr_sso.accounts.mail import open_message

from .helpers import is_signed_in, page_text, sign_in_with_password, submit_mfa_code, totp_code

NEW_PASSWORD = "another long passphrase 7"


@pytest.fixture
def queued(monkeypatch):
    """The sealed messages handed to the task, the task still running (eagerly)."""
    sealed = []
    original = tasks.send_account_email.delay

    def delay(**kwargs):
        sealed.append(kwargs["sealed"])
        return original(**kwargs)

    monkeypatch.setattr(tasks.send_account_email, "delay", delay)
    return sealed


def request_reset(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("account_reset_password"), {"email": email})
    assert response.status_code == 302
    return callbacks


def reset_link(message) -> str:
    return re.search(r"https?://\S+/accounts/password/reset/key/\S+/", message.body).group(0)


def test_the_reset_email_is_queued_after_commit_and_sent_by_the_task(
    client, totp_operator, eager_celery, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("account_reset_password"), {"email": "alice@ops.example"})
    assert mail.outbox == [] and queued == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert len(queued) == 1 and len(mail.outbox) == 1
    # The broker sees the message sealed: not the link, not the address.
    assert "reset/key" not in queued[0] and "alice@ops.example" not in queued[0]
    assert open_message(queued[0]).body == mail.outbox[0].body

    message = mail.outbox[0]
    assert message.to == ["alice@ops.example"]
    assert message.subject == "[SSO gateway] Reset your operator password"
    assert "alice" in message.body
    html = dict((mimetype, content) for content, mimetype in message.alternatives)["text/html"]
    assert reset_link(message) in html


def test_the_reset_link_works_once_and_the_second_factor_is_still_asked(
    client, totp_operator, eager_celery, django_capture_on_commit_callbacks
):
    request_reset(client, "alice@ops.example", django_capture_on_commit_callbacks)
    link = reset_link(mail.outbox[0])

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and not form_page.context.get("token_fail")
    response = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_from_key_done")
    assert not is_signed_in(client)  # ACCOUNT_LOGIN_ON_PASSWORD_RESET is off

    again = client.get(link, follow=True)
    assert again.context["token_fail"]
    assert "invalid" in page_text(again).lower()

    # The new password, then the second factor as always.
    assert sign_in_with_password(client, "alice", NEW_PASSWORD)["Location"] == reverse("mfa_authenticate")
    assert submit_mfa_code(client, totp_code(totp_operator.totp_secret))["Location"] == "/admin/"


def test_an_unknown_address_gets_no_reset_link(client, db, eager_celery, django_capture_on_commit_callbacks):
    request_reset(client, "nobody@ops.example", django_capture_on_commit_callbacks)
    # allauth answers the same page either way (no account enumeration) and mails the address that
    # no account uses it.
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" not in mail.outbox[0].body


def test_a_sealed_message_too_old_is_dropped(monkeypatch, settings):
    from django.core.mail import EmailMessage

    from cryptr_sso.accounts import mail as sealed_mail

    sealed = sealed_mail.seal_message(EmailMessage("s", "b", "from@x.example", ["to@x.example"]))
    monkeypatch.setattr(sealed_mail, "SEALED_MESSAGE_TTL_SECONDS", -1)
    tasks.send_account_email.run(sealed=sealed)
    assert mail.outbox == []
