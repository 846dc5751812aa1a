"""The wizard's steps, declared once: the API's progress and the pages the IT admin sees both come
from this list (the wizard extends Step with its form and template)."""

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Step:
    key: str
    title: Any


STEPS: list[Step] = [
    Step(key="choose_provider", title=_("Choose your identity provider")),
    Step(key="create_app", title=_("Create the application in your identity provider")),
    Step(key="idp_metadata", title=_("Give us your identity provider's metadata")),
    Step(key="attribute_mapping", title=_("Map the attributes")),
    Step(key="test_login", title=_("Test the login")),
    Step(key="activate", title=_("Activate the connection")),
]
STEP_KEYS = [step.key for step in STEPS]
total_steps = len(STEPS)


def progress(onboarding) -> dict:
    """The AdminOnboarding object of the API (`onboarding` may be None: not initialized yet).

    `onboarding.connection` is read for the active flag: load it with the onboarding (it usually is,
    from the connection side)."""
    if onboarding is None:
        return {
            "__type__": "AdminOnboarding",
            "state": "not_initialized",
            "tutorial_step": 1,
            "total_steps": total_steps,
            "progress_in_percentage": 0,
            "steps": [{"key": key, "done": False} for key in STEP_KEYS],
            "it_admin_email": None,
            "provider_type": None,
            "invitation_sent_at": None,
        }
    done = set(onboarding.steps_done or [])
    state = onboarding.state
    if onboarding.connection.active:
        state = "completed"
    # 1-based index of the first step not done; the last step when all are.
    tutorial_step = next((index for index, key in enumerate(STEP_KEYS, start=1) if key not in done), total_steps)
    done_count = sum(1 for key in STEP_KEYS if key in done)
    return {
        "__type__": "AdminOnboarding",
        "state": state,
        "tutorial_step": tutorial_step,
        "total_steps": total_steps,
        "progress_in_percentage": int(done_count / total_steps * 100),
        "steps": [{"key": key, "done": key in done} for key in STEP_KEYS],
        "it_admin_email": onboarding.it_admin_email or None,
        "provider_type": onboarding.provider_type,
        "invitation_sent_at": onboarding.invitation_sent_at,
    }
