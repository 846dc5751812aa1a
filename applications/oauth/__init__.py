"""The gateway's own OAuth 2.0 / OpenID Connect provider, one issuer per organization (`/t/<domain>`).

Built on django-oauth-toolkit: its views, served under `/t/<domain>` by `tenancy.TenantMiddleware`,
and one validator class (`validators.GatewayOAuth2Validator`) holding the gateway's protocol decisions.
"""
