"""The IT admin's onboarding of one SSO connection, and the invitation links that open it."""

from django.db import models

from connections.models import SSOConnection


class OnboardingState(models.TextChoices):
    NOT_INITIALIZED = "not_initialized", "Not started"
    INVITED = "invited", "IT admin invited"
    IN_PROGRESS = "in_progress", "In progress"
    TESTED = "tested", "Test login succeeded"
    COMPLETED = "completed", "Completed (connection active)"


# The order of the states: a step backwards (an invitation re-sent to an admin already half-way
# through) never lowers the state.
STATE_ORDER = [choice.value for choice in OnboardingState]


class AdminOnboarding(models.Model):
    """One per connection, created lazily (by the first invitation, or the first wizard visit)."""

    connection = models.OneToOneField(SSOConnection, on_delete=models.CASCADE, related_name="admin_onboarding")
    state = models.CharField(max_length=20, choices=OnboardingState.choices, default=OnboardingState.NOT_INITIALIZED)
    it_admin_email = models.EmailField(max_length=254, blank=True, default="")
    # The provider the admin chose in the wizard (null until chosen; the connection's provider_type
    # follows it).
    provider_type = models.CharField(max_length=32, null=True, blank=True)
    # Keys of onboarding.steps.STEPS.
    current_step = models.CharField(max_length=40, blank=True, default="")
    steps_done = models.JSONField(default=list, blank=True)
    # What the admin entered, per step, so the wizard resumes where it was left (never secrets).
    data = models.JSONField(default=dict, blank=True)
    invitation_sent_at = models.DateTimeField(null=True, blank=True)
    inserted_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "admin onboarding"

    def __str__(self) -> str:
        return f"Onboarding of {self.connection_id} ({self.state})"


class OnboardingInvitation(models.Model):
    """A link sent to the IT admin. Only the SHA-256 of its random token is stored; a new invitation
    revokes the older ones."""

    onboarding = models.ForeignKey(AdminOnboarding, on_delete=models.CASCADE, related_name="invitations")
    token_hash = models.CharField(max_length=64, unique=True)
    email = models.EmailField(max_length=254)
    # The language of the email (and the wizard's first page): a `locale` given to invite-admin, else
    # settings.LANGUAGE_CODE.
    locale = models.CharField(max_length=8, default="en")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The token, encrypted with a key derived from SECRET_KEY, only until the email is sent (or the
    # link revoked): the worker needs the link and the broker message carries only the id. Emptied in
    # the transaction that records sent_at; the lookup uses token_hash alone.
    token_encrypted = models.TextField(blank=True, default="")
    # Delivery, written by onboarding.tasks.send_invitation only.
    sent_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["onboarding", "-created_at"], name="invitation_newest")]

    def __str__(self) -> str:
        return f"Invitation {self.pk} to {self.email}"
