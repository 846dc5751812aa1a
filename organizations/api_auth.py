"""Bearer tokens of API keys, and the scopes every v2 view requires."""

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from cryptr_sso.hashing import hash_secret

from .models import ApiAccessToken


class ApiKeyTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` where the token came from POST /api/v2/oauth/token.

    request.user stays None (an API key is not a person); request.auth is the ApiAccessToken with its
    api_key loaded.
    """

    keyword = "bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <access_token>'.")
        token = (
            ApiAccessToken.objects.select_related("api_key")
            .filter(token_hash=hash_secret(parts[1]), api_key__active=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed(
                "The access token is not valid or was revoked. Get a new one from POST /api/v2/oauth/token."
            )
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                "The access token has expired. Get a new one from POST /api/v2/oauth/token."
            )
        return (None, token)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class HasApiScope(permissions.BasePermission):
    """A view names its resource (`required_scope_resource = "users"`): reads need `read:users`,
    writes need `write:users`."""

    message = "This API key does not have the scope this call needs."

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiAccessToken):
            raise exceptions.NotAuthenticated()
        resource = getattr(view, "required_scope_resource", None)
        if resource is None:
            return True
        action = "read" if request.method in permissions.SAFE_METHODS else "write"
        needed = f"{action}:{resource}"
        # A key whose scopes were narrowed after the token was issued loses them at once.
        if needed not in token.scopes or needed not in token.api_key.scopes:
            self.message = f"This API key lacks the scope '{needed}'. Ask an operator for a key that has it."
            return False
        return True


def api_key_of(request):
    return request.auth.api_key
