"""The wizard's writes, one function per thing the IT admin does (allauth's "one flow module per use
case"): each owns its transaction, locks the onboarding row, and keeps the wizard resumable by saving
what was entered (`data[<step key>]`) and where the admin is (`current_step`).

The connection itself only changes through connections.services (the same checks as the API)."""

from typing import Any

from django.db import transaction

from connections.admin_test_login import AdminTestResult
from connections.models import SSOConnection
from connections.services import connection_record_successful_test, connection_update
from cryptr_sso.audit import Actor

from .models import STATE_ORDER, AdminOnboarding, OnboardingState
from .steps import protocol_of, step_keys_for

DRAFTS = "drafts"


def _locked(onboarding: AdminOnboarding) -> AdminOnboarding:
    return AdminOnboarding.objects.select_for_update().get(pk=onboarding.pk)


def _raise_state(onboarding: AdminOnboarding, state: str) -> None:
    if STATE_ORDER.index(state) > STATE_ORDER.index(onboarding.state):
        onboarding.state = state


def _refresh(onboarding: AdminOnboarding, locked: AdminOnboarding) -> None:
    for field in ("state", "provider_type", "current_step", "steps_done", "data", "updated_at"):
        setattr(onboarding, field, getattr(locked, field))


def _it_admin(onboarding: AdminOnboarding, by: Actor | None) -> Actor:
    """Who writes: the wizard's caller says (the IT admin with their request's IP and user agent); else the
    IT admin the onboarding link was sent to."""
    return by or Actor.it_admin(onboarding.connection.sso_admin_email)


def _next_key(keys: list[str], key: str) -> str:
    index = keys.index(key)
    return keys[min(index + 1, len(keys) - 1)]


def wizard_step_saved(
    *,
    onboarding: AdminOnboarding,
    step_key: str,
    data: dict[str, Any] | None = None,
    done: bool = True,
    state: str = OnboardingState.IN_PROGRESS,
) -> None:
    """A step went through: remember what was entered, mark it done, move on to the next step."""
    keys = step_keys_for(onboarding)  # the path (SAML or OIDC) of the provider chosen
    with transaction.atomic():
        locked = _locked(onboarding)
        if data is not None:
            locked.data = {**locked.data, step_key: data}
        drafts = dict(locked.data.get(DRAFTS) or {})
        if drafts.pop(step_key, None) is not None:
            locked.data = {**locked.data, DRAFTS: drafts}
        if done and step_key not in locked.steps_done:
            locked.steps_done = [key for key in keys if key in {*locked.steps_done, step_key}]
        locked.current_step = _next_key(keys, step_key) if done else step_key
        _raise_state(locked, state)
        locked.save()
    _refresh(onboarding, locked)


def wizard_draft_saved(*, onboarding: AdminOnboarding, step_key: str, draft: dict[str, Any], go_to: str) -> None:
    """The admin went back (or elsewhere) from a step without finishing it: keep what they typed."""
    with transaction.atomic():
        locked = _locked(onboarding)
        drafts = {**(locked.data.get(DRAFTS) or {}), step_key: draft}
        locked.data = {**locked.data, DRAFTS: drafts}
        locked.current_step = go_to
        _raise_state(locked, OnboardingState.IN_PROGRESS)
        locked.save()
    _refresh(onboarding, locked)


def wizard_visited(*, onboarding: AdminOnboarding, step_key: str) -> None:
    """Remember the page the admin is on, so the link resumes there."""
    if onboarding.current_step == step_key and onboarding.state != OnboardingState.INVITED:
        return
    with transaction.atomic():
        locked = _locked(onboarding)
        locked.current_step = step_key
        _raise_state(locked, OnboardingState.IN_PROGRESS)
        locked.save(update_fields=["current_step", "state", "updated_at"])
    _refresh(onboarding, locked)


def wizard_provider_chosen(*, onboarding: AdminOnboarding, provider_type: str, by: Actor | None = None) -> None:
    """The provider decides the path: another protocol (SAML <-> OpenID Connect) starts the steps after
    this one again (the app created in the IdP and the mapping were for the other protocol)."""
    protocol_before = protocol_of(onboarding)
    connection_update(
        connection=onboarding.connection, data={"provider_type": provider_type}, by=_it_admin(onboarding, by)
    )
    onboarding.connection.refresh_from_db()
    with transaction.atomic():
        locked = _locked(onboarding)
        locked.provider_type = provider_type
        fields = ["provider_type", "updated_at"]
        if protocol_of(locked) != protocol_before:
            locked.steps_done = []
            fields.append("steps_done")
        locked.save(update_fields=fields)
    onboarding.steps_done = locked.steps_done
    onboarding.provider_type = provider_type
    wizard_step_saved(onboarding=onboarding, step_key="choose_provider", data={"provider_type": provider_type})


def wizard_connection_updated(
    *,
    onboarding: AdminOnboarding,
    step_key: str,
    data: dict[str, Any],
    entered: dict[str, Any],
    by: Actor | None = None,
) -> SSOConnection:
    """Save IdP values or the mapping through the connection service (it raises ApiError with a
    sentence, having saved nothing), then the step."""
    connection = connection_update(connection=onboarding.connection, data=data, by=_it_admin(onboarding, by))
    onboarding.connection = connection
    wizard_step_saved(onboarding=onboarding, step_key=step_key, data=entered)
    return connection


def wizard_test_recorded(*, onboarding: AdminOnboarding, result: AdminTestResult, by: Actor | None = None) -> None:
    """The ACS verified the admin's test login: the connection may now be activated. A refused test
    is kept too (the page shows it again when the admin comes back), without undoing an earlier success."""
    from dataclasses import asdict

    if result.ok:
        onboarding.connection = connection_record_successful_test(
            connection=onboarding.connection, by=_it_admin(onboarding, by)
        )
    wizard_step_saved(
        onboarding=onboarding,
        step_key="test_login",
        data={"last_result": asdict(result)},
        done=result.ok,
        state=OnboardingState.TESTED if result.ok else OnboardingState.IN_PROGRESS,
    )


def wizard_activated(*, onboarding: AdminOnboarding, by: Actor | None = None) -> SSOConnection:
    # The audit trail names the IT admin who followed the onboarding link.
    connection = connection_update(
        connection=onboarding.connection, data={"active": True}, by=_it_admin(onboarding, by)
    )
    onboarding.connection = connection
    wizard_step_saved(onboarding=onboarding, step_key="activate", data={}, state=OnboardingState.COMPLETED)
    return connection
