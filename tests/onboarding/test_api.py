"""The onboarding API: invite-admin, re-send, progress, the `onboarding` object of connections,
tenant scoping, scopes and query counts. Delivery itself is in test_delivery.py (a real worker)."""

import pytest
from django.utils import timezone

from connections.models import SSOConnection
from onboarding import selectors
from onboarding.exceptions import InvitationInvalid
from onboarding.models import AdminOnboarding, OnboardingInvitation
from onboarding.tasks import send_invitation
from tests.api.v2.helpers import assert_error

STEP_KEYS = ["choose_provider", "create_app", "idp_metadata", "attribute_mapping", "test_login", "activate"]


def invite_url(connection):
    return f"/api/v2/sso-connections/{connection.id}/invite-admin"


def onboarding_url(connection):
    return f"/api/v2/sso-connections/{connection.id}/admin-onboarding"


@pytest.fixture
def queued(monkeypatch):
    """The invitation ids whose email was queued (after the commit), instead of a broker."""
    calls = []
    monkeypatch.setattr(send_invitation, "delay", lambda **kwargs: calls.append(kwargs["invitation_id"]))
    return calls


def test_progress_before_any_invitation_is_not_initialized(api, connection):
    response = api.get(onboarding_url(connection))
    assert response.status_code == 200
    assert response.json() == {
        "__type__": "AdminOnboarding",
        "__domain__": "misapret",
        "idp_id": connection.id,
        "state": "not_initialized",
        "tutorial_step": 1,
        "total_steps": 6,
        "progress_in_percentage": 0,
        "steps": [{"key": key, "done": False} for key in STEP_KEYS],
        "it_admin_email": None,
        "provider_type": None,
        "invitation_sent_at": None,
    }
    assert not AdminOnboarding.objects.exists()  # reading does not create it


def test_invite_admin_sets_the_email_issues_a_link_and_queues_the_email_after_commit(
    api, connection, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(invite_url(connection), {"sso_admin_email": "it@misapret.fr"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["__type__"] == "AdminOnboarding" and body["__domain__"] == "misapret"
    assert body["state"] == "invited" and body["it_admin_email"] == "it@misapret.fr"
    assert body["invitation_sent_at"] is None  # the worker records it
    connection.refresh_from_db()
    assert connection.sso_admin_email == "it@misapret.fr"
    invitation = OnboardingInvitation.objects.get()
    assert invitation.email == "it@misapret.fr" and invitation.locale == "en"
    assert queued == [invitation.id]  # one email queued, after the commit
    # Only the hash of the token is stored; its clear text waits encrypted for the worker.
    assert len(invitation.token_hash) == 64 and invitation.token_encrypted
    assert (invitation.expires_at - timezone.now()).days in (6, 7)


def test_nothing_is_queued_before_the_commit(api, connection, queued):
    # pytest-django's `db` never commits: the on_commit callback must not have run.
    response = api.post(invite_url(connection), {"sso_admin_email": "it@misapret.fr"}, format="json")
    assert response.status_code == 200
    assert queued == []


def test_invite_admin_replaces_the_email_and_revokes_older_links(api, connection, queued):
    from onboarding.services import onboarding_invite

    first, first_token = onboarding_invite(connection=connection, email="old@misapret.fr")
    assert selectors.invitation_by_token(first_token) == first
    response = api.post(invite_url(connection), {"sso_admin_email": "new@misapret.fr"}, format="json")
    assert response.status_code == 200 and response.json()["it_admin_email"] == "new@misapret.fr"
    first.refresh_from_db()
    assert first.revoked_at is not None and first.token_encrypted == ""
    with pytest.raises(InvitationInvalid) as error:
        selectors.invitation_by_token(first_token)
    assert error.value.reason == "revoked"
    newest = OnboardingInvitation.objects.order_by("-id").first()
    assert newest.email == "new@misapret.fr" and newest.revoked_at is None
    assert SSOConnection.objects.get(pk=connection.pk).sso_admin_email == "new@misapret.fr"


def test_invite_admin_without_body_uses_the_email_already_set(api, make_connection, org, queued):
    connection = make_connection(org, sso_admin_email="it@misapret.fr")
    response = api.post(invite_url(connection))
    assert response.status_code == 200
    assert OnboardingInvitation.objects.get().email == "it@misapret.fr"


def test_invite_admin_accepts_a_form_body_and_a_locale(api, connection, queued):
    response = api.post(invite_url(connection), {"sso_admin_email": "it@misapret.fr", "locale": "fr"})
    assert response.status_code == 200, response.json()
    assert OnboardingInvitation.objects.get().locale == "fr"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sso_admin_email": "not an email"}, "sso_admin_email"),
        ({"sso_admin_email": 42}, "sso_admin_email"),
        ({"locale": "de"}, "locale"),
        ({"surprise": "field"}, "surprise"),
    ],
)
def test_invite_admin_refuses_bad_input_and_saves_nothing(api, connection, queued, body, field):
    response = api.post(invite_url(connection), body, format="json")
    error = assert_error(response, 400, "invalid_request")
    assert field in error["fields"]
    assert not OnboardingInvitation.objects.exists() and queued == []


def test_invite_admin_without_any_email_is_a_422(api, connection, queued):
    error = assert_error(api.post(invite_url(connection)), 422, "no_admin_email")
    assert "no IT admin email set" in error["error_description"]
    assert not OnboardingInvitation.objects.exists()


def test_resend_without_an_admin_email_is_a_422_that_says_what_to_do(api, connection, queued):
    error = assert_error(api.post(onboarding_url(connection)), 422, "no_admin_email")
    assert error["error_description"] == "no IT admin email set: use invite-admin with an email"
    assert not AdminOnboarding.objects.exists() and queued == []


def test_resend_issues_a_fresh_link_to_the_same_admin(api, make_connection, org, queued):
    from onboarding.services import onboarding_invite

    connection = make_connection(org, sso_admin_email="it@misapret.fr")
    first, first_token = onboarding_invite(connection=connection, locale="fr")
    response = api.post(onboarding_url(connection))
    assert response.status_code == 200 and response.json()["state"] == "invited"
    second = OnboardingInvitation.objects.order_by("-id").first()
    assert second.id != first.id and second.email == "it@misapret.fr"
    assert second.locale == "fr"  # the previous invitation's language unless told otherwise
    with pytest.raises(InvitationInvalid):
        selectors.invitation_by_token(first_token)


def test_creating_a_connection_with_an_admin_email_invites_at_once(
    api, org, queued, django_capture_on_commit_callbacks
):
    application = api.post(
        f"/api/v2/org/{org.domain}/applications",
        {"name": "Portal", "application_type": "spa", "allowed_redirect_uris_after_login": ["https://a.example/cb"]},
        format="json",
    ).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v2/sso-connections",
            {"organization_id": org.domain, "application_id": application["id"], "sso_admin_email": "it@misapret.fr"},
            format="json",
        )
    assert response.status_code == 201, response.json()
    onboarding = response.json()["onboarding"]
    assert onboarding["state"] == "invited" and onboarding["it_admin_email"] == "it@misapret.fr"
    invitation = OnboardingInvitation.objects.get()
    assert queued == [invitation.id]


def test_creating_a_connection_without_an_admin_email_invites_nobody(api, org, queued):
    application = api.post(
        f"/api/v2/org/{org.domain}/applications",
        {"name": "Portal", "application_type": "spa", "allowed_redirect_uris_after_login": ["https://a.example/cb"]},
        format="json",
    ).json()
    response = api.post(
        "/api/v2/sso-connections", {"organization_id": org.domain, "application_id": application["id"]}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["onboarding"]["state"] == "not_initialized"
    assert not OnboardingInvitation.objects.exists()


def test_progress_follows_the_steps_done_and_the_connection(api, connection, queued):
    from onboarding.services import onboarding_invite

    onboarding_invite(connection=connection, email="it@misapret.fr")
    onboarding = AdminOnboarding.objects.get()
    onboarding.steps_done = ["choose_provider", "create_app"]
    onboarding.state, onboarding.provider_type = "in_progress", "okta"
    onboarding.invitation_sent_at = timezone.now()
    onboarding.save()
    body = api.get(onboarding_url(connection)).json()
    assert body["state"] == "in_progress"
    assert body["tutorial_step"] == 3 and body["progress_in_percentage"] == 33
    assert body["provider_type"] == "okta" and body["invitation_sent_at"]
    assert [step["done"] for step in body["steps"]] == [True, True, False, False, False, False]

    onboarding.steps_done = STEP_KEYS
    onboarding.save()
    SSOConnection.objects.filter(pk=connection.pk).update(active=True)
    body = api.get(onboarding_url(connection)).json()
    assert body["state"] == "completed"
    assert body["tutorial_step"] == 6 and body["progress_in_percentage"] == 100
    detail = api.get(f"/api/v2/sso-connections/{connection.id}").json()
    assert detail["onboarding"] == body


def test_a_new_invitation_does_not_move_an_admin_half_way_back_to_invited(api, connection, queued):
    from onboarding.services import onboarding_invite

    onboarding_invite(connection=connection, email="it@misapret.fr")
    AdminOnboarding.objects.update(state="tested", steps_done=STEP_KEYS[:5])
    api.post(invite_url(connection))
    onboarding = AdminOnboarding.objects.get()
    assert onboarding.state == "tested" and onboarding.steps_done == STEP_KEYS[:5]


@pytest.mark.parametrize("method", ["invite", "resend", "progress"])
def test_another_organizations_connection_is_a_404(make_api, make_org, make_connection, queued, method):
    ours, theirs = make_org(), make_org(name="Other Corp")
    connection = make_connection(theirs, sso_admin_email="it@other.example")
    client = make_api(organizations=[ours])
    call = {
        "invite": lambda: client.post(invite_url(connection), {"sso_admin_email": "x@evil.example"}, format="json"),
        "resend": lambda: client.post(onboarding_url(connection)),
        "progress": lambda: client.get(onboarding_url(connection)),
    }[method]
    missing = {
        "invite": lambda: client.post("/api/v2/sso-connections/nope_x/invite-admin"),
        "resend": lambda: client.post("/api/v2/sso-connections/nope_x/admin-onboarding"),
        "progress": lambda: client.get("/api/v2/sso-connections/nope_x/admin-onboarding"),
    }[method]
    foreign, unknown = assert_error(call(), 404, "not_found"), assert_error(missing(), 404, "not_found")
    assert foreign["error_description"].replace(connection.id, "X") == unknown["error_description"].replace(
        "nope_x", "X"
    )
    assert not OnboardingInvitation.objects.exists()
    assert SSOConnection.objects.get(pk=connection.pk).sso_admin_email == "it@other.example"


@pytest.mark.parametrize(
    ("method", "scope_needed", "scope_given"),
    [
        ("invite", "write:sso_connections", "read:sso_connections"),
        ("resend", "write:sso_connections", "read:sso_connections"),
        ("progress", "read:sso_connections", "write:sso_connections"),
        ("progress", "read:sso_connections", "read:organizations"),
    ],
)
def test_each_call_needs_its_sso_connections_scope(
    make_api, org, make_connection, queued, method, scope_needed, scope_given
):
    connection = make_connection(org, sso_admin_email="it@misapret.fr")
    client = make_api(scopes=[scope_given])
    response = {
        "invite": lambda: client.post(invite_url(connection)),
        "resend": lambda: client.post(onboarding_url(connection)),
        "progress": lambda: client.get(onboarding_url(connection)),
    }[method]()
    error = assert_error(response, 403, "insufficient_scope")
    assert scope_needed in error["error_description"]
    assert not OnboardingInvitation.objects.exists()
    allowed = make_api(scopes=[scope_needed])
    again = {
        "invite": lambda: allowed.post(invite_url(connection)),
        "resend": lambda: allowed.post(onboarding_url(connection)),
        "progress": lambda: allowed.get(onboarding_url(connection)),
    }[method]()
    assert again.status_code == 200


def test_calls_without_a_token_are_refused(client, connection):
    for response in (
        client.post(invite_url(connection)),
        client.get(onboarding_url(connection)),
        client.post(onboarding_url(connection)),
    ):
        assert response.status_code == 401


def test_listing_connections_reads_their_onboardings_in_the_same_query(
    api, org, make_connection, queued, django_assert_num_queries, django_assert_max_num_queries
):
    from onboarding.services import onboarding_invite

    for index in range(2):
        onboarding_invite(connection=make_connection(org), email=f"it{index}@misapret.fr")
    make_connection(org)  # one not initialized
    api.get("/api/v2/sso-connections?per_page=50")  # the process's signing key view is loaded once (signing_keys)
    with django_assert_max_num_queries(6) as captured:
        body = api.get("/api/v2/sso-connections?per_page=50").json()
    baseline = len(captured.captured_queries)
    for index in range(5):
        onboarding_invite(connection=make_connection(org), email=f"more{index}@misapret.fr")
    with django_assert_num_queries(baseline):
        body = api.get("/api/v2/sso-connections?per_page=50").json()
    assert body["total"] == 8
    states = sorted(item["onboarding"]["state"] for item in body["data"])
    assert states == ["invited"] * 7 + ["not_initialized"]


def test_progress_reads_a_fixed_number_of_queries(api, connection, queued, django_assert_max_num_queries):
    from onboarding.services import onboarding_invite

    onboarding_invite(connection=connection, email="it@misapret.fr")
    with django_assert_max_num_queries(5):
        assert api.get(onboarding_url(connection)).status_code == 200
