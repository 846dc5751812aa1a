"""Certificate expiry warnings (connections/tasks.py): 60, 30 and 7 days before an IdP certificate or the SP
certificate expires, one email per audience and threshold, whatever how often the daily task runs; each
warning is a certificate.expiring event, which the webhooks deliver."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User as Operator
from django.core import mail
from freezegun import freeze_time

from connections import services, tasks
from connections.models import CertificateExpiryNotice
from connections.saml.keys import sp_certificate_pem
from connections.saml.metadata import certificate_from_text
from cryptr_sso.models import AuditEvent
from organizations.webhooks import services as webhook_services
from organizations.webhooks.models import WebhookDelivery
from organizations.webhooks.tasks import deliver_webhook

from . import idp

pytestmark = pytest.mark.django_db
NOT_AFTER = (datetime.now(UTC) + timedelta(days=100)).replace(microsecond=0)


@pytest.fixture
def operators(db):
    Operator.objects.create_user("alice", "alice@gateway.example", is_staff=True)
    Operator.objects.create_user("bob", "bob@gateway.example", is_staff=True)
    Operator.objects.create_user("carol", "", is_staff=True)  # no address
    Operator.objects.create_user("dave", "dave@gateway.example", is_staff=True, is_active=False)
    Operator.objects.create_user("erin", "erin@customer.example")  # not an operator
    return ["alice@gateway.example", "bob@gateway.example"]


@pytest.fixture
def expiring(org, make_connection):
    """A connection whose IdP signs with a certificate that expires at NOT_AFTER."""
    pem = idp.certificate("Misapret IdP signing", not_after=NOT_AFTER)
    connection = make_connection(org, sso_admin_email="it@misapret.fr")
    return services.connection_update(
        connection=connection,
        data={"saml_config": {"idp_entity_id": idp.ENTITY_ID, "idp_sso_url": idp.SSO_URL, "idp_certificates": [pem]}},
    ), pem


@pytest.fixture
def run(eager, django_capture_on_commit_callbacks):
    """The daily task at a given moment, with the emails it queues sent (in-process)."""

    def run_at(moment: datetime) -> int:
        with freeze_time(moment), django_capture_on_commit_callbacks(execute=True):
            return tasks.warn_expiring_certificates()

    return run_at


def _recipients() -> list[list[str]]:
    return sorted(message.to for message in mail.outbox)


def test_warnings_at_60_30_and_7_days_each_sent_once(operators, expiring, run):
    connection, pem = expiring
    everyone = sorted([[address] for address in [*operators, "it@misapret.fr"]])
    schedule = [  # (days before expiry, warnings made)
        (61, 0),
        (60, 1),
        (59.5, 0),
        (45, 0),
        (31, 0),
        (30, 1),
        (29, 0),
        (8, 0),
        (7, 1),
        (6.9, 0),
        (1, 0),
        (-1, 0),
    ]
    for days, made in schedule:
        mail.outbox.clear()
        assert run(NOT_AFTER - timedelta(days=days)) == made, days
        assert _recipients() == (everyone if made else []), days
        if made:
            by_address = {message.to[0]: message for message in mail.outbox}
            admin, operator = by_address["it@misapret.fr"], by_address["alice@gateway.example"]
            assert f"expires in {int(days)} days" in admin.subject and "identity provider" in admin.subject
            assert connection.id in operator.subject and "Misapret" in operator.subject
            text = admin.body
            assert idp.fingerprint(pem) in text and "Misapret Portal" in text
            assert "no longer sign in" in text
            assert admin.alternatives[0][1] == "text/html" and idp.fingerprint(pem) in admin.alternatives[0][0]
            assert f"/admin/connections/ssoconnection/{connection.id}/change/" in operator.body
    notices = CertificateExpiryNotice.objects.order_by("inserted_at")
    assert [(n.kind, n.threshold_days, n.scope) for n in notices] == [
        ("idp", 60, connection.id),
        ("idp", 30, connection.id),
        ("idp", 7, connection.id),
    ]
    assert all(n.sent_at is not None and sorted(n.sent_to) == sorted([*operators, "it@misapret.fr"]) for n in notices)
    events = AuditEvent.objects.filter(type="certificate.expiring").order_by("inserted_at")
    assert [(e.data["threshold_days"], e.data["days_left"], e.data["certificate"]) for e in events] == [
        (60, 60, "idp"),
        (30, 30, "idp"),
        (7, 7, "idp"),
    ]
    assert {(e.organization_id, e.connection_id, e.data["fingerprint"]) for e in events} == {
        (connection.organization_id, connection.id, idp.fingerprint(pem))
    }


def test_a_certificate_first_seen_inside_the_window_gets_only_the_nearest_warning(operators, expiring, run):
    assert run(NOT_AFTER - timedelta(days=20)) == 1
    assert list(CertificateExpiryNotice.objects.values_list("threshold_days", flat=True)) == [30]
    assert run(NOT_AFTER - timedelta(days=19)) == 0


def test_the_it_admin_of_the_onboarding_is_warned_when_the_connection_has_no_admin_email(operators, expiring, run):
    from onboarding.models import AdminOnboarding

    connection, _pem = expiring
    connection.sso_admin_email = ""
    connection.save()
    AdminOnboarding.objects.update_or_create(connection=connection, defaults={"it_admin_email": "dsi@misapret.fr"})
    run(NOT_AFTER - timedelta(days=7))
    assert ["dsi@misapret.fr"] in _recipients()


def test_the_sp_certificate_warns_the_operators_once_and_each_customers_it_admin(operators, org, make_connection, run):
    sp = certificate_from_text(sp_certificate_pem())
    configured = make_connection(org, sso_admin_email="it@misapret.fr")
    services.connection_update(
        connection=configured,
        data={
            "saml_config": {
                "idp_entity_id": idp.ENTITY_ID,
                "idp_sso_url": idp.SSO_URL,
                "idp_certificates": [idp.certificate("IdP", not_after=sp.not_valid_after + timedelta(days=400))],
            }
        },
    )
    make_connection(org, app_name="Draft", sso_admin_email="draft@misapret.fr")  # its IdP never got our cert

    assert run(sp.not_valid_after - timedelta(days=30)) == 2
    assert _recipients() == [["alice@gateway.example"], ["bob@gateway.example"], ["it@misapret.fr"]]
    by_address = {message.to[0]: message for message in mail.outbox}
    assert "service provider certificate" in by_address["alice@gateway.example"].subject
    assert f"/sso/sp/metadata/{configured.id}" in by_address["it@misapret.fr"].body
    assert {(n.kind, n.scope) for n in CertificateExpiryNotice.objects.all()} == {
        ("sp", "operators"),
        ("sp", configured.id),
    }
    events = AuditEvent.objects.filter(type="certificate.expiring")
    assert {(e.organization_id, e.connection_id, e.data["certificate"]) for e in events} == {
        (None, "", "sp"),
        (org.id, configured.id, "sp"),
    }
    mail.outbox.clear()
    assert run(sp.not_valid_after - timedelta(days=29)) == 0 and mail.outbox == []


def test_a_refused_email_is_retried_for_the_recipients_not_yet_reached(operators, expiring, monkeypatch):
    from django.core.mail import EmailMultiAlternatives

    with freeze_time(NOT_AFTER - timedelta(days=7)):
        notice_made = []
        monkeypatch.setattr(
            tasks.send_certificate_expiry_notice,
            "delay_on_commit",
            lambda **kwargs: notice_made.append(kwargs["notice_id"]),
        )
        tasks.warn_expiring_certificates()
    [notice_id] = notice_made
    real_send = EmailMultiAlternatives.send

    def refuse_bob(message, fail_silently=False):
        if message.to == ["bob@gateway.example"]:
            raise ConnectionRefusedError("SMTP down")
        return real_send(message, fail_silently=fail_silently)

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse_bob)
    with pytest.raises(ConnectionRefusedError):
        tasks.send_certificate_expiry_notice.run(notice_id=notice_id)
    notice = CertificateExpiryNotice.objects.get(pk=notice_id)
    assert notice.sent_at is None and notice.sent_to == ["alice@gateway.example"] and "bob@" in notice.last_error
    monkeypatch.setattr(EmailMultiAlternatives, "send", real_send)
    assert tasks.send_certificate_expiry_notice.run(notice_id=notice_id) == "sent"
    assert tasks.send_certificate_expiry_notice.run(notice_id=notice_id) == "already_sent"
    assert _recipients() == [["alice@gateway.example"], ["bob@gateway.example"], ["it@misapret.fr"]]


def test_the_warning_is_delivered_to_the_organizations_webhooks(operators, expiring, run, monkeypatch):
    connection, pem = expiring
    queued = []
    monkeypatch.setattr(deliver_webhook, "delay", lambda **kwargs: queued.append(kwargs))
    webhook_services.webhook_endpoint_create(
        organization=connection.organization,
        url="https://hooks.misapret.example/cryptr",
        event_types=["certificate.expiring"],
    )
    run(NOT_AFTER - timedelta(days=30))
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "certificate.expiring" and queued == [{"delivery_id": str(delivery.pk), "attempt": 1}]
    assert delivery.payload["data"]["fingerprint"] == idp.fingerprint(pem)
    assert delivery.payload["data"]["connection_id"] == connection.id
    assert delivery.payload["data"]["threshold_days"] == 30 and delivery.payload["organization"] == "misapret"


def test_operators_read_the_warnings_in_the_admin(operators, expiring, run, client):
    connection, _pem = expiring
    run(NOT_AFTER - timedelta(days=30))
    operator = Operator.objects.create_superuser("root", "root@gateway.example", "a long passphrase 42")
    client.force_login(operator)
    page = client.get("/admin/connections/certificateexpirynotice/").content.decode()
    assert connection.id in page and "IdP signing certificate" in page
    notice = CertificateExpiryNotice.objects.get()
    detail = client.get(f"/admin/connections/certificateexpirynotice/{notice.pk}/change/").content.decode()
    assert "it@misapret.fr" in detail and notice.fingerprint in detail


FRENCH_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def test_the_it_admin_reads_the_warning_in_the_language_of_the_latest_invitation(operators, expiring, run):
    from onboarding.services import onboarding_invite

    connection, pem = expiring
    onboarding_invite(connection=connection, email="it@misapret.fr", locale="en")
    onboarding_invite(connection=connection, locale="fr")  # sent again, in French: the latest one counts
    run(NOT_AFTER - timedelta(days=7))
    by_address = {message.to[0]: message for message in mail.outbox}
    admin, operator = by_address["it@misapret.fr"], by_address["alice@gateway.example"]

    assert admin.extra_headers["Content-Language"] == "fr"
    assert admin.subject == (
        "Authentification unique vers Misapret Portal : le certificat de votre fournisseur "
        "d\u2019identité expire dans 7 jours"
    )
    text = admin.body
    assert text.startswith("Bonjour,")
    assert f"expire le {NOT_AFTER.day} {FRENCH_MONTHS[NOT_AFTER.month - 1]} {NOT_AFTER.year}, dans 7 jours" in text
    assert "vos collègues ne pourront plus se connecter" in text
    assert f"Empreinte SHA-256 : {idp.fingerprint(pem)}" in text
    assert "envoyez-le à votre contact chez Misapret Portal" in text  # no metadata URL: given by hand
    assert "Hello" not in text and "expires" not in text
    html, kind = admin.alternatives[0]
    assert kind == "text/html" and '<html lang="fr">' in html
    assert "Un certificat de signature expire dans 7 jours" in html and idp.fingerprint(pem) in html

    # The operators read the gateway's language (settings.LANGUAGE_CODE, English here).
    assert operator.extra_headers["Content-Language"] == "en"
    assert "expires in 7 days" in operator.subject and operator.body.startswith("Hello,")
    assert "Bonjour" not in operator.body and '<html lang="en">' in operator.alternatives[0][0]


def test_one_day_left_reads_day_not_days(operators, expiring, run):
    from onboarding.services import onboarding_invite

    connection, _pem = expiring
    onboarding_invite(connection=connection, email="it@misapret.fr", locale="fr")
    run(NOT_AFTER - timedelta(hours=20))  # first seen inside the 7-day window, on its last day
    by_address = {message.to[0]: message for message in mail.outbox}
    assert by_address["alice@gateway.example"].subject.endswith("expires in 1 day")
    assert by_address["it@misapret.fr"].subject.endswith("expire dans 1 jour")
    assert "dans 1 jour." in by_address["it@misapret.fr"].body


def test_an_it_admin_never_invited_reads_english(operators, expiring, run):
    run(NOT_AFTER - timedelta(days=30))
    admin = next(message for message in mail.outbox if message.to == ["it@misapret.fr"])
    assert admin.extra_headers["Content-Language"] == "en" and "expires in 30 days" in admin.subject
