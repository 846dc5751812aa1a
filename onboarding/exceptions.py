"""Typed errors of the onboarding, with the reason the wizard shows the IT admin."""


class InvitationInvalid(Exception):
    """The link does not open an onboarding. `reason` is one of EXPIRED, REVOKED, UNKNOWN."""

    EXPIRED = "expired"
    REVOKED = "revoked"
    UNKNOWN = "unknown"

    MESSAGES = {
        EXPIRED: "This onboarding link has expired. Ask the person who sent it for a new one.",
        REVOKED: "This onboarding link is no longer valid: a newer one was sent, or it was revoked.",
        UNKNOWN: "This onboarding link is not valid. Check that you copied the whole link from the email.",
    }

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(self.MESSAGES[reason])

    @property
    def message(self) -> str:
        return self.MESSAGES[self.reason]
