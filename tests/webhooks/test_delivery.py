"""Deliveries made in the test's process (task.apply): what is sent, how it is signed, which answers
are retried and which fail at once, SSRF refusals. The retry schedule through a real worker process is
in test_worker.py."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from cryptr_sso import audit
from cryptr_sso.models import AuditEvent
from organizations.webhooks import signing
from organizations.webhooks.dispatch import on_audit_event
from organizations.webhooks.models import DeliveryStatus, WebhookDelivery
from organizations.webhooks.services import webhook_deliveries_create
from organizations.webhooks.tasks import deliver_webhook, retry_delay

from ..onboarding.smtp_server import free_port
from .receiver import Receiver

pytestmark = pytest.mark.django_db


def _event(organization, type="connection.activated", **extra) -> AuditEvent:
    return audit.record_event(
        type=type,
        organization=organization,
        actor="system",
        connection_id=extra.pop("connection_id", "misapret_Vq5XKzsUs83o5F78fqbJJU"),
        **extra,
    )


def _attempt(delivery, attempt=1) -> str:
    return deliver_webhook.apply(kwargs={"delivery_id": str(delivery.pk), "attempt": attempt}).get()


def _one_delivery(organization, type="connection.activated") -> WebhookDelivery:
    [delivery] = webhook_deliveries_create(event=_event(organization, type))
    return delivery


def test_an_event_is_posted_to_the_subscribed_endpoint_signed_with_its_secret(
    org, receiver, make_endpoint, eager, django_capture_on_commit_callbacks
):
    endpoint, secret = make_endpoint(org, receiver.url)
    receiver.secret = secret
    with django_capture_on_commit_callbacks(execute=True):
        event = _event(org, data={"active": True, "changed_by": "api_key:key_1"})

    [request] = receiver.received
    assert request.signature_valid
    delivery = WebhookDelivery.objects.get()
    assert request.headers["X-Cryptr-Event"] == "connection.activated"
    assert request.headers["X-Cryptr-Delivery"] == str(delivery.pk)
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "id": str(event.pk),
        "type": "connection.activated",
        "organization": org.domain,
        "created_at": event.inserted_at.isoformat().replace("+00:00", "Z"),
        "data": {"active": True, "changed_by": "api_key:key_1", "connection_id": "misapret_Vq5XKzsUs83o5F78fqbJJU"},
    }
    assert signing.verify(secret, request.body, request.headers["X-Cryptr-Signature"])
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.endpoint == endpoint


def test_the_signature_does_not_verify_with_another_secret_a_changed_body_or_an_old_timestamp():
    body = b'{"id":"1","type":"user.provisioned"}'
    header = signing.sign("whsec_right", body)
    assert signing.verify("whsec_right", body, header)
    assert not signing.verify("whsec_wrong", body, header)
    assert not signing.verify("whsec_right", body.replace(b"user", b"admin"), header)
    old = signing.sign("whsec_right", body, timestamp=int(timezone.now().timestamp()) - 301)
    assert not signing.verify("whsec_right", body, old)
    assert not signing.verify("whsec_right", body, "v1=" + header.split("v1=")[1])  # no timestamp
    assert header.startswith("t=") and len(header.split("v1=")[1]) == 64


@pytest.mark.parametrize(
    "event_type",
    ["connection.activated", "connection.deactivated", "user.provisioned", "sso.login.failed", "certificate.expiring"],
)
def test_each_webhook_event_type_makes_one_delivery(org, receiver, make_endpoint, event_type):
    make_endpoint(org, receiver.url)
    assert [d.event_type for d in webhook_deliveries_create(event=_event(org, event_type))] == [event_type]


def test_no_delivery_for_other_types_unsubscribed_endpoints_inactive_ones_or_other_organizations(
    org, make_org, receiver, make_endpoint
):
    other = make_org(name="Other Corp")
    make_endpoint(org, receiver.url, event_types=["user.provisioned"])
    make_endpoint(org, receiver.url, active=False)
    make_endpoint(other, receiver.url)
    assert webhook_deliveries_create(event=_event(org, "connection.activated")) == []
    assert webhook_deliveries_create(event=_event(org, "token.issued")) == []  # not a webhook event
    assert webhook_deliveries_create(event=audit.record_event(type="user.provisioned")) == []  # no organization
    assert len(webhook_deliveries_create(event=_event(org, "user.provisioned"))) == 1


def test_the_listener_is_registered_and_makes_one_delivery_per_event_however_often_it_runs(
    org, receiver, make_endpoint
):
    assert on_audit_event in audit.EVENT_LISTENERS
    make_endpoint(org, receiver.url)
    event = _event(org)
    on_audit_event(event)
    on_audit_event(event)
    assert WebhookDelivery.objects.filter(event_id=str(event.pk)).count() == 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, "failed"),
        (401, "failed"),
        (403, "failed"),
        (404, "failed"),
        (410, "failed"),
        (422, "failed"),
        (429, "retrying"),
        (500, "retrying"),
        (502, "retrying"),
        (503, "retrying"),
    ],
)
def test_server_errors_and_429_are_retried_other_4xx_fail_at_once(org, receiver, make_endpoint, status, outcome):
    make_endpoint(org, receiver.url)
    receiver.statuses = [status]
    delivery = _one_delivery(org)
    before = timezone.now()
    assert _attempt(delivery) == outcome
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (outcome, 1, status)
    assert f"HTTP {status}" in delivery.last_error and delivery.delivered_at is None
    if outcome == "retrying":
        # The first wait: between half and all of WEBHOOKS_RETRY_BASE_SECONDS (60 s).
        assert before + timedelta(seconds=29) <= delivery.next_retry_at <= timezone.now() + timedelta(seconds=61)
    else:
        assert delivery.next_retry_at is None


def test_a_retried_delivery_succeeds_and_a_duplicate_of_a_made_attempt_sends_nothing(org, receiver, make_endpoint):
    _endpoint, secret = make_endpoint(org, receiver.url)
    receiver.secret, receiver.statuses = secret, [500]
    delivery = _one_delivery(org)
    assert _attempt(delivery, 1) == "retrying"
    assert _attempt(delivery, 1) == "stale"  # the same message delivered again
    assert _attempt(delivery, 2) == "delivered"
    assert _attempt(delivery, 2) == "stale"
    assert _attempt(delivery, 3) == "stale"
    assert len(receiver.received) == 2 and all(r.signature_valid for r in receiver.received)
    # The same delivery id on every attempt (the receiver's idempotency key), a fresh timestamp each time.
    assert {r.headers["X-Cryptr-Delivery"] for r in receiver.received} == {str(delivery.pk)}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 2, "")


def test_the_last_attempt_fails_for_good(org, receiver, make_endpoint, settings):
    make_endpoint(org, receiver.url)
    receiver.default_status = 503
    delivery = _one_delivery(org)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=settings.WEBHOOKS_MAX_ATTEMPTS - 1, status="retrying"
    )
    assert _attempt(delivery, settings.WEBHOOKS_MAX_ATTEMPTS) == "failed"
    delivery.refresh_from_db()
    assert delivery.next_retry_at is None and delivery.attempts == settings.WEBHOOKS_MAX_ATTEMPTS


def test_the_backoff_grows_exponentially_with_jitter_and_is_capped(settings):
    settings.WEBHOOKS_RETRY_BASE_SECONDS, settings.WEBHOOKS_RETRY_MAX_SECONDS = 60, 3000
    for attempt, full in [(1, 60), (2, 120), (3, 240), (6, 1920), (7, 3000), (12, 3000)]:
        delays = {retry_delay(attempt) for _ in range(50)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1  # jittered
    # 8 attempts spread over more than an hour.
    assert sum(retry_delay(n) for n in range(1, 8)) > 3390


def test_a_redirect_is_not_followed(org, receiver, make_endpoint):
    make_endpoint(org, receiver.url)
    receiver.statuses = [302]
    receiver.headers_to_send = {"Location": "http://127.0.0.1:1/elsewhere"}
    delivery = _one_delivery(org)
    assert _attempt(delivery) == "failed"
    assert len(receiver.received) == 1


def test_an_unreachable_receiver_is_retried(org, make_endpoint):
    make_endpoint(org, f"http://127.0.0.1:{free_port()}/hooks")
    delivery = _one_delivery(org)
    assert _attempt(delivery) == "retrying"
    delivery.refresh_from_db()
    assert "Could not connect" in delivery.last_error and delivery.last_response_code is None


def test_a_receiver_slower_than_the_timeout_is_retried(org, receiver, make_endpoint, settings):
    settings.WEBHOOKS_TIMEOUT = 0.5
    receiver.delay = 2
    make_endpoint(org, receiver.url)
    delivery = _one_delivery(org)
    assert _attempt(delivery) == "retrying"
    delivery.refresh_from_db()
    assert "Timeout" in delivery.last_error or "timed out" in delivery.last_error.lower()


def test_a_deactivated_endpoint_gets_nothing(org, receiver, make_endpoint):
    endpoint, _secret = make_endpoint(org, receiver.url)
    delivery = _one_delivery(org)
    endpoint.active = False
    endpoint.save()
    assert _attempt(delivery) == "failed"
    assert receiver.received == []


def test_private_addresses_are_refused_when_not_allowed(org, receiver, make_endpoint, settings, monkeypatch):
    # An https endpoint whose name resolves inside (the metadata fetcher's rule, cryptr_sso.netcheck).
    endpoint, _secret = make_endpoint(org, "https://hooks.misapret.example/cryptr")
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "hooks.misapret.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    delivery = _one_delivery(org)
    assert _attempt(delivery) == "failed"
    delivery.refresh_from_db()
    assert "private" in delivery.last_error and "10.0.0.7" in delivery.last_error
    # A loopback receiver too, once the endpoint exists (its URL was accepted while allowed).
    endpoint.url = receiver.url.replace("http://", "https://")
    endpoint.save()
    delivery = _one_delivery(org, "user.provisioned")
    assert _attempt(delivery) == "failed"
    assert "127.0.0.1" in WebhookDelivery.objects.get(pk=delivery.pk).last_error
    assert receiver.received == []


def test_plain_http_is_accepted_for_loopback_only_in_development_or_tests(org, make_endpoint, settings):
    from cryptr_sso.api.errors import ApiError

    settings.WEBHOOKS_ALLOW_PRIVATE_URLS, settings.DEBUG = False, False
    with pytest.raises(ApiError, match="https://"):
        make_endpoint(org, "http://127.0.0.1:9000/hooks")
    settings.DEBUG = True
    make_endpoint(org, "http://127.0.0.1:9000/hooks")
    with pytest.raises(ApiError, match="https://"):
        make_endpoint(org, "http://hooks.misapret.example/hooks")


def test_the_sweeper_queues_deliveries_whose_retry_is_long_past_due(org, receiver, make_endpoint, eager):
    from organizations.webhooks.tasks import retry_due_webhook_deliveries

    make_endpoint(org, receiver.url)
    receiver.statuses = [500]
    delivery = _one_delivery(org)
    assert _attempt(delivery) == "retrying"
    assert retry_due_webhook_deliveries.apply().get() == 0  # not due yet
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_retry_at=timezone.now() - timedelta(hours=1))
    assert retry_due_webhook_deliveries.apply().get() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)


def test_activating_and_deactivating_a_connection_through_the_api_reaches_the_receiver(
    api, org, receiver, make_endpoint, eager, django_capture_on_commit_callbacks, settings
):
    """End to end: the connection service records the event, the audit trail calls the listener after the
    commit, the delivery is posted and signed."""
    from applications.services import application_create
    from connections.services import connection_create

    from ..beat import idp

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _endpoint, secret = make_endpoint(org, receiver.url, event_types=["connection.activated", "connection.deactivated"])
    receiver.secret = secret
    application, _ = application_create(
        organization=org,
        name="Misapret Portal",
        application_type="regular_web",
        allowed_redirect_uris_after_login=["https://app.misapret.example/callback"],
    )
    connection = connection_create(organization=org, application=application)
    saml_config = {
        "idp_entity_id": idp.ENTITY_ID,
        "idp_sso_url": idp.SSO_URL,
        "idp_certificates": [idp.certificate("IdP")],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.put(
            f"/api/v2/sso-connections/{connection.id}",
            {"active": True, "bypass_it_admin_test": True, "saml_config": saml_config},
            format="json",
        )
    assert response.status_code == 200, response.json()
    with django_capture_on_commit_callbacks(execute=True):
        api.put(f"/api/v2/sso-connections/{connection.id}", {"active": False}, format="json")

    assert [r.headers["X-Cryptr-Event"] for r in receiver.received] == [
        "connection.activated",
        "connection.deactivated",
    ]
    assert all(r.signature_valid for r in receiver.received)
    assert {r.json["data"]["connection_id"] for r in receiver.received} == {connection.id}
    assert WebhookDelivery.objects.filter(status="delivered").count() == 2


@pytest.fixture
def tls_receiver(tmp_path, settings):
    started = Receiver(tls_dir=tmp_path).start()
    settings.WEBHOOKS_CA_BUNDLE = started.ca_file
    yield started
    started.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_https_endpoint_is_called_with_its_certificate_verified(org, tls_receiver, make_endpoint, host):
    url = tls_receiver.url.replace("127.0.0.1", host)
    _endpoint, secret = make_endpoint(org, url)
    tls_receiver.secret = secret
    delivery = _one_delivery(org)
    assert _attempt(delivery) == "delivered"
    [request] = tls_receiver.received
    assert request.signature_valid and request.headers["Host"] == url.split("/")[2]


def test_an_https_endpoint_with_an_untrusted_certificate_is_not_sent_to(org, tls_receiver, make_endpoint, settings):
    settings.WEBHOOKS_CA_BUNDLE = None  # the public CAs only: the receiver's self-signed certificate fails
    make_endpoint(org, tls_receiver.url)
    delivery = _one_delivery(org)
    assert _attempt(delivery) == "retrying"
    delivery.refresh_from_db()
    assert "SSLError" in delivery.last_error and tls_receiver.received == []


def test_an_ipv6_loopback_endpoint_gets_a_valid_host_header(org, make_endpoint):
    import http.server
    import threading

    class V6Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers["Host"])
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    try:
        server = V6Server(("::1", 0), Handler)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        make_endpoint(org, f"http://[::1]:{port}/hooks")
        assert _attempt(_one_delivery(org)) == "delivered"
        assert seen == [f"[::1]:{port}"]
    finally:
        server.shutdown()
        server.server_close()
