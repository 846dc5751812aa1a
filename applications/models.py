"""The SaaS app as an OAuth client of one organization, and the tokens the gateway issues to it.

django-oauth-toolkit's models are swapped for these (see OAUTH2_PROVIDER_*_MODEL in settings): the
application belongs to an organization, and every grant and token belongs to a user of that
organization's directory (organizations.User), never to an operator account.
"""

from django.db import models
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)

from organizations.models import Organization, User


class Application(AbstractApplication):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="applications")
    description = models.TextField(blank=True, default="")
    application_type = models.CharField(max_length=32, default="regular_web")
    default_redirect_uri_after_login = models.URLField(max_length=2000, blank=True, default="")
    default_redirect_uri_after_logout = models.URLField(max_length=2000, blank=True, default="")

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        ordering = ("-created", "-id")


class SsoLoginFields(models.Model):
    """Which SSO connection signed the user in: carried from the authorize request to every token
    (claims `sci`, `ips`, `auth_time`), through refreshes too."""

    idp_id = models.CharField(max_length=100, blank=True, default="")
    provider_type = models.CharField(max_length=32, blank=True, default="")
    auth_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Grant(SsoLoginFields, AbstractGrant):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class IDToken(AbstractIDToken):
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


class AccessToken(SsoLoginFields, AbstractAccessToken):
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


class RefreshToken(SsoLoginFields, AbstractRefreshToken):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"
