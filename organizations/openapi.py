"""How the OpenAPI schema describes the v2 API's authentication (loaded by OrganizationsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyTokenScheme(OpenApiAuthenticationExtension):
    target_class = "organizations.api_auth.ApiKeyTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from POST /api/v2/oauth/token (client credentials of an API key).",
        }
