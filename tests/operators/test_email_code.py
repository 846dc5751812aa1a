"""A stolen password is not enough to enrol a second factor: an operator without one first enters a code
sent to their email address (cryptr_sso/accounts/email_code.py)."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from freezegun import freeze_time

from cryptr_sso.accounts import tasks
from cryptr_sso.accounts.mail import open_message
from cryptr_sso.models import AuditEvent

from .helpers import (
    PASSWORD,
    email_code_from,
    is_signed_in,
    make_operator,
    page_text,
    second_factors,
    sign_in_proving_email,
    sign_in_with_password,
    submit_email_code,
    totp_code,
)

LOCKED = "Too many failed sign-in attempts"

SETUP_PAGES = ["mfa_index", "mfa_activate_totp", "mfa_add_webauthn", "mfa_generate_recovery_codes"]
ADMIN_PAGES = ["admin:index", "admin:auth_user_changelist", "admin:organizations_organization_changelist"]


@pytest.fixture
def delivered(eager_celery, django_capture_on_commit_callbacks):
    """Runs the request, then the after-commit callbacks (the Celery task, eager): returns the response."""

    def run(request, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return request(*args, **kwargs)

    return run


def password_step(client, delivered, login="alice", password=PASSWORD):
    response = delivered(sign_in_with_password, client, login, password)
    assert response.status_code == 302 and response["Location"] == reverse("operator_email_code")
    return email_code_from(mail.outbox[-1])


def other_code(code: str) -> str:
    return "AAAA-AAAA" if code != "AAAA-AAAA" else "BBBB-BBBB"


def assert_nothing_reachable(client):
    """No MFA setup page, no admin page: each sends to a sign-in page or to the code."""
    assert not is_signed_in(client)
    away = {reverse("operator_email_code"), reverse("account_login"), reverse("admin:login")}
    for name in SETUP_PAGES + ADMIN_PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].split("?")[0] in away, (name, response["Location"])


def test_the_password_alone_reaches_neither_the_mfa_setup_nor_the_admin(client, operator, delivered):
    password_step(client, delivered)
    assert_nothing_reachable(client)
    # Not through the admin's own login form either.
    response = client.post(reverse("admin:login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and not is_signed_in(client)
    # The pending sign-in leads back to the code page, from the admin too.
    assert client.get(reverse("admin:index"))["Location"] == reverse("operator_email_code")
    assert second_factors(operator) == set()


def test_the_code_is_emailed_sealed_through_celery_and_opens_the_setup(
    client, operator, delivered, monkeypatch, caplog
):
    caplog.set_level("DEBUG")
    sealed = []
    original = tasks.send_account_email.delay

    def delay(**kwargs):
        sealed.append(kwargs["sealed"])
        return original(**kwargs)

    monkeypatch.setattr(tasks.send_account_email, "delay", delay)
    code = password_step(client, delivered)
    message = mail.outbox[-1]
    assert message.to == ["alice@ops.example"]
    assert message.subject == "[SSO gateway] Your code to set up a second factor"
    assert code in dict((mimetype, content) for content, mimetype in message.alternatives)["text/html"]
    assert len(sealed) == 1 and code not in sealed[0] and open_message(sealed[0]).body == message.body
    # The session holds a keyed hash of the code, never the code.
    session_text = str(dict(client.session))
    assert code not in session_text and code.replace("-", "") not in session_text
    assert code not in caplog.text and code.replace("-", "") not in caplog.text

    page = client.get(reverse("operator_email_code"))
    # Where the code went, without the whole address (the password holder may not know it).
    assert page.status_code == 200 and "a***@ops.example" in page_text(page)
    assert "alice@ops.example" not in page_text(page)
    response = submit_email_code(client, code.lower().replace("-", ""))  # typed loosely, still the code
    assert response.status_code == 302 and is_signed_in(client)
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_index")
    assert client.get(reverse("mfa_index")).status_code == 200


def test_enrolling_after_the_code_opens_the_admin_and_is_audited(
    client, transactional_db, eager_celery, django_capture_on_commit_callbacks
):
    # Transactional: allauth announces the new authenticator after the commit, as in production.
    operator = make_operator()
    assert sign_in_proving_email(client, "alice", django_capture_on_commit_callbacks)["Location"] == "/admin/"
    confirm = client.get(reverse("mfa_activate_totp"))
    client.post(confirm["Location"], {"password": PASSWORD})
    client.get(reverse("mfa_activate_totp"))
    client.post(reverse("mfa_activate_totp"), {"code": totp_code(client.session["mfa.totp.secret"])})
    assert second_factors(operator) == {"totp", "recovery_codes"}
    assert client.get(reverse("admin:index")).status_code == 200
    events = AuditEvent.objects.filter(type="operator.mfa_enrolled")
    assert sorted(event.data["factor"] for event in events) == ["recovery_codes", "totp"]
    assert {event.actor for event in events} == {"operator:alice"}


def test_a_wrong_code_is_refused(client, operator, delivered):
    code = password_step(client, delivered)
    response = submit_email_code(client, other_code(code))
    assert response.status_code == 200 and "Incorrect code" in page_text(response)
    assert_nothing_reachable(client)


def test_a_code_works_once(client, operator, delivered):
    code = password_step(client, delivered)
    assert submit_email_code(client, code).status_code == 302 and is_signed_in(client)
    client.post(reverse("account_logout"))
    # A new sign-in sends a new code; the used one no longer works.
    new_code = password_step(client, delivered)
    assert new_code != code
    response = submit_email_code(client, code)
    assert response.status_code == 200 and not is_signed_in(client)
    assert_nothing_reachable(client)


def test_another_operators_code_is_refused(client, operator, delivered):
    from django.test import Client

    make_operator("bob", "bob@ops.example")
    password_step(client, delivered)
    bobs_client = Client()
    bobs_code = password_step(bobs_client, delivered, "bob")
    assert mail.outbox[-1].to == ["bob@ops.example"]
    response = submit_email_code(client, bobs_code)
    assert response.status_code == 200 and not is_signed_in(client)
    # Nor does alice's session become bob's: his code still works in his own session only.
    assert submit_email_code(bobs_client, bobs_code).status_code == 302 and is_signed_in(bobs_client)
    assert not is_signed_in(client)


def test_a_code_from_another_session_is_refused(client, operator, delivered):
    from django.test import Client

    code = password_step(client, delivered)
    other = Client()
    response = submit_email_code(other, code)  # no pending sign-in in that session
    assert response.status_code == 302 and response["Location"] == reverse("account_login")
    assert not is_signed_in(other)


def test_an_expired_code_is_refused(client, operator, delivered):
    with freeze_time() as frozen:
        code = password_step(client, delivered)
        frozen.tick(timedelta(seconds=settings.OPERATOR_EMAIL_CODE_TIMEOUT + 1))
        response = submit_email_code(client, code)
    assert response.status_code == 200 and "expired" in page_text(response)
    assert_nothing_reachable(client)


def test_three_wrong_codes_end_the_sign_in(client, operator, delivered):
    code = password_step(client, delivered)
    for _ in range(settings.OPERATOR_EMAIL_CODE_MAX_ATTEMPTS - 1):
        assert submit_email_code(client, other_code(code)).status_code == 200
    response = submit_email_code(client, other_code(code))
    assert response.status_code == 302 and response["Location"] == reverse("account_login")
    # The right code no longer helps: the sign-in starts over, with a new code.
    response = submit_email_code(client, code)
    assert response["Location"] == reverse("account_login")
    assert_nothing_reachable(client)


def test_wrong_codes_lock_the_account_across_sign_ins(client, operator, delivered):
    """Starting over (a new sign-in, a new code) does not give unlimited guesses: the account's
    login_failed limit counts wrong codes as it counts wrong passwords."""
    limit = settings.OPERATOR_LOGIN_ATTEMPTS_LIMIT
    tries = 0
    while tries < limit:
        code = password_step(client, delivered)
        for _ in range(min(settings.OPERATOR_EMAIL_CODE_MAX_ATTEMPTS - 1, limit - tries)):
            submit_email_code(client, other_code(code))
            tries += 1
    response = submit_email_code(client, code)  # the right code, once too many were wrong
    assert response.status_code == 200 and LOCKED in page_text(response)
    assert not is_signed_in(client)


def test_wrong_codes_are_limited_per_ip(client, operator, delivered, settings):
    """Per IP: guesses spread over many accounts hit the IP's login_failed limit."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip,50/300s/key"}
    make_operator("bob", "bob@ops.example")
    code = password_step(client, delivered)
    for _ in range(2):
        submit_email_code(client, other_code(code))
    from django.test import Client

    bobs_client = Client()  # same IP (127.0.0.1), another account, another session
    bobs_code = password_step(bobs_client, delivered, "bob")
    submit_email_code(bobs_client, other_code(bobs_code))
    response = submit_email_code(bobs_client, bobs_code)
    assert response.status_code == 200 and LOCKED in page_text(response)
    assert not is_signed_in(bobs_client)


def test_a_new_code_does_not_give_new_tries(client, operator, delivered):
    code = password_step(client, delivered)
    for _ in range(settings.OPERATOR_EMAIL_CODE_MAX_ATTEMPTS - 1):
        submit_email_code(client, other_code(code))
    delivered(client.post, reverse("operator_email_code"), {"action": "resend"})
    new_code = email_code_from(mail.outbox[-1])
    response = submit_email_code(client, other_code(new_code))
    assert response.status_code == 302 and response["Location"] == reverse("account_login")
    assert submit_email_code(client, new_code)["Location"] == reverse("account_login")
    assert not is_signed_in(client)


def test_resends_are_limited(client, operator, delivered):
    first = password_step(client, delivered)
    codes = [first]
    for _ in range(settings.OPERATOR_EMAIL_CODE_MAX_RESENDS):
        response = delivered(client.post, reverse("operator_email_code"), {"action": "resend"})
        assert response["Location"] == reverse("operator_email_code")
        codes.append(email_code_from(mail.outbox[-1]))
    assert len(set(codes)) == len(codes) == settings.OPERATOR_EMAIL_CODE_MAX_RESENDS + 1
    assert "Send a new code" not in page_text(client.get(reverse("operator_email_code")))
    sent = len(mail.outbox)
    response = delivered(client.post, reverse("operator_email_code"), {"action": "resend"}, follow=True)
    assert len(mail.outbox) == sent and "too many were sent" in page_text(response)
    # Only the last code works.
    assert submit_email_code(client, codes[0]).status_code == 200
    assert submit_email_code(client, codes[-1]).status_code == 302 and is_signed_in(client)


def test_codes_sent_are_limited_per_account_across_sign_ins(client, operator, delivered):
    amount = int(re.match(r".*,(\d+)/10m/key", settings.ACCOUNT_RATE_LIMITS["operator_email_code"]).group(1))
    for _ in range(amount):
        password_step(client, delivered)
    sent = len(mail.outbox)
    response = delivered(sign_in_with_password, client, "alice")
    assert response.status_code == 429 and len(mail.outbox) == sent
    assert not is_signed_in(client)


def test_an_operator_without_an_email_address_is_told_what_to_do(client, db, delivered):
    make_operator("dave", "")
    response = delivered(sign_in_with_password, client, "dave")
    assert response.status_code == 403 and not is_signed_in(client)
    text = page_text(response)
    assert "no email address" in text and "Ask another operator" in text and "Email address" in text
    assert mail.outbox == []
    assert_nothing_reachable(client)


def test_the_step_can_be_turned_off(client, operator, settings):
    settings.OPERATOR_MFA_ENROLMENT_REQUIRES_EMAIL_CODE = False
    response = sign_in_with_password(client, "alice")
    assert response["Location"] == "/admin/" and is_signed_in(client)
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_index")
    assert mail.outbox == []


def test_operators_with_a_second_factor_get_no_email_code(client, totp_operator, delivered):
    response = delivered(sign_in_with_password, client, "alice")
    assert response["Location"] == reverse("mfa_authenticate")
    assert mail.outbox == []


def test_non_operators_get_no_email_code(client, db, delivered):
    make_operator("erin", "erin@ops.example", is_staff=False, is_superuser=False)
    response = delivered(sign_in_with_password, client, "erin")
    assert response["Location"] == "/admin/" and is_signed_in(client)
    assert mail.outbox == []


@pytest.mark.force_login_without_mfa
def test_a_session_signed_in_without_the_code_is_signed_out_before_any_setup(client, operator):
    # force_login stands for any session that skipped the sign-in's code step.
    for name in [*SETUP_PAGES, "admin:index"]:
        client.force_login(operator)
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("account_login") + "?next="), name
        assert not is_signed_in(client), name
    assert second_factors(operator) == set()


@pytest.mark.force_login_without_mfa
def test_enrolment_without_the_code_does_not_count_as_the_second_factor(operator, rf):
    """The signal's own check (the gate keeps such sessions away from the MFA pages anyway)."""
    from importlib import import_module

    from allauth.mfa.signals import authenticator_added
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from cryptr_sso.accounts.gate import session_used_mfa

    request = rf.get("/")
    request.session, request.user = import_module(settings.SESSION_ENGINE).SessionStore(), operator
    authenticator = TOTP.activate(operator, generate_totp_secret()).instance
    authenticator_added.send(sender=type(authenticator), request=request, user=operator, authenticator=authenticator)
    assert not session_used_mfa(request, operator)


def test_a_right_code_does_not_count_as_a_failed_attempt(client, operator, delivered, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "20/m/ip,1/300s/key"}
    code = password_step(client, delivered)
    assert submit_email_code(client, code).status_code == 302
    client.post(reverse("account_logout"))
    # The one allowed failure is still there: a wrong code is refused as wrong, not as locked.
    code = password_step(client, delivered)
    response = submit_email_code(client, other_code(code))
    assert "Incorrect code" in page_text(response) and LOCKED not in page_text(response)
    assert LOCKED in page_text(submit_email_code(client, code))
