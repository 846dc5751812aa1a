"""Every protocol decision of the gateway's provider, as django-oauth-toolkit validator hooks.

- tenancy: a client exists only inside the organization of the issuer it is used at, and a
  bearer token only at the issuer of its client's organization;
- PKCE is required from public clients (S256 only, by the RFC 9700 settings), optional for
  confidential ones, which authenticate at the token endpoint;
- the SSO sign-in (connection, provider type, auth time) goes from the session to the grant, from
  the grant to the tokens and through every refresh, and into the `sci`, `ips`, `auth_time` claims;
- ID tokens are always RS256 with the active key, whatever the application's `algorithm` field says;
- one read of a row per request: django-oauth-toolkit's hooks each read the Grant again (six times per
  code exchange) and each oauthlib request of the authorize view loads the Application again, so the
  Grant (with its user) is kept on the oauthlib request and the Application for the HTTP request.
"""

import hashlib
import json
import uuid
from contextvars import ContextVar
from datetime import timedelta

from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.db import router, transaction
from django.utils import timezone
from jwcrypto import jws, jwt
from jwcrypto.common import JWException
from oauth2_provider.models import AbstractApplication
from oauth2_provider.oauth2_validators import AccessToken, Grant, OAuth2Validator, RefreshToken
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors, utils

from applications.models import (
    GENERATED_SECRET_MIN_LENGTH,
    GeneratedSecretHasher,
    grant_sign_in,
    noting_revoked_families,
)
from applications.oauth.keys import verification_jwks
from applications.oauth.tenancy import (
    META_LOADED_CLIENTS,
    LoadedClients,
    request_end_user_id,
    request_issuer,
    request_organization_domain,
    request_organization_id,
)
from applications.oauth.tokens import SsoSignIn, sign_jwt, sso_sign_in
from cryptr_sso.audit import record_event
from cryptr_sso.queries import one_by_key
from organizations.models import Organization

# The oauthlib request whose client is being authenticated (see GatewayOAuth2Validator._check_secret).
_authenticating: ContextVar = ContextVar("authenticating_client_request", default=None)

# The gateway's own claims are released with the `openid` scope, like `sub`.
GATEWAY_CLAIMS = ("tnt", "sci", "ips")
USER_CLAIMS = ("email", "email_verified", "given_name", "family_name", "name")


class GatewayOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, **dict.fromkeys(GATEWAY_CLAIMS, "openid")}

    # --- tenancy -------------------------------------------------------------------------------

    def _load_application(self, client_id, request):
        # The authorize view validates with two oauthlib requests, which share these
        # (TenantOAuthLibCore.extract_headers): the Application is read once per HTTP request.
        shared = (getattr(request, "headers", None) or {}).get(META_LOADED_CLIENTS)
        loaded = shared.by_client_id if isinstance(shared, LoadedClients) else {}
        if not request.client and client_id in loaded:
            request.client = loaded[client_id]  # DOT checks it again (client_id, is_usable) and reuses it
        client = super()._load_application(client_id, request)
        if client is not None and str(client.organization_id) != request_organization_id(request):
            # Another organization's client looks exactly like an unknown one.
            request.client = None
            return None
        if client is not None:
            loaded[client_id] = client
        return client

    # --- client secrets stored with the password hasher get the generated secrets' hash ----------

    def authenticate_client(self, request, *args, **kwargs):
        marker = _authenticating.set(request)
        try:
            return super().authenticate_client(request, *args, **kwargs)
        finally:
            _authenticating.reset(marker)

    def _check_secret(self, provided_secret, stored_secret):
        """DOT's check; a generated secret still stored with the password hasher (applications
        created before GeneratedSecretHasher) is stored again with it on its first successful use,
        so only that exchange pays the ~250 ms of the password hash."""
        request = _authenticating.get()
        client = getattr(request, "client", None) if request is not None else None
        if (
            client is None
            or client.client_secret != stored_secret
            or len(provided_secret or "") < GENERATED_SECRET_MIN_LENGTH
            or not GeneratedSecretHasher.verifiable()
        ):
            return super()._check_secret(provided_secret, stored_secret)
        try:
            identify_hasher(stored_secret)
        except ValueError:  # stored in clear (hash_client_secret off): not ours to change
            return super()._check_secret(provided_secret, stored_secret)

        def rehash(secret):
            hashed = make_password(secret, hasher=GeneratedSecretHasher())
            # Only if nobody changed the secret meanwhile (a rotation wins over this).
            type(client).objects.filter(pk=client.pk, client_secret=stored_secret).update(client_secret=hashed)
            client.client_secret = hashed

        # Django calls `rehash` only for the right secret, and only when the stored hash is not
        # already GeneratedSecretHasher's (another algorithm or another iteration count).
        return check_password(provided_secret, stored_secret, setter=rehash, preferred=GeneratedSecretHasher())

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        client = request.client
        if client is None or str(client.organization_id) != request_organization_id(request):
            request.oauth2_error = {"error": "invalid_token", "error_description": "The access token is invalid."}
            return False
        if request.user is not None and not request.user.active:
            request.oauth2_error = {"error": "invalid_token", "error_description": "The user is deactivated."}
            return False
        request.cryptr_sso = SsoSignIn.of(request.access_token)
        return True

    @staticmethod
    def _user_in_tenant(request) -> bool:
        """An active user of the client's organization: a deactivated user's codes and refresh
        tokens stop working at once, not when they expire."""
        user = request.user
        user_org = getattr(user, "organization_id", None)
        return user_org is not None and str(user_org) == str(request.client.organization_id) and user.active

    # --- OIDC prompt=none and id_token_hint (OIDC Core 3.1.2.1) ---------------------------------

    def validate_silent_login(self, request):
        return bool(request_end_user_id(request))

    def validate_silent_authorization(self, request):
        # No consent screen: the organization connected the application for all its users.
        return True

    def validate_user_match(self, id_token_hint, scopes, claims, request):
        """An id_token_hint (even an expired one) must name the signed-in user."""
        if not id_token_hint:
            return True
        key = self._get_key_for_token(id_token_hint)
        if key is None:
            return False
        try:
            hint = json.loads(jwt.JWT(key=key, jwt=id_token_hint, check_claims={}).claims)
        except (JWException, ValueError):
            return False
        return hint.get("iss") == request_issuer(request) and hint.get("sub") == request_end_user_id(request)

    # --- the Grant, read once per token request ------------------------------------------------------

    @staticmethod
    def _grant(code, request, client=None, *, any_client=False):
        """The Grant of `code`, with its user, read at most once per oauthlib request. Only the
        client's own (django-oauth-toolkit filters by `application=client`), unless `any_client`
        (DOT's scope and nonce lookups, made before the client is authenticated, do not filter)."""
        grants = getattr(request, "cryptr_grants", None)
        if grants is None:
            grants = request.cryptr_grants = {}
        if code not in grants:
            grants[code] = one_by_key(Grant.objects.select_related("user").filter(code=code)) if code else None
        grant = grants[code]
        if grant is None or any_client:
            return grant
        return grant if client is not None and grant.application_id == client.pk else None

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request, any_client=True)
        return utils.scope_to_list(grant.scope) if grant is not None and grant.scope else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request, any_client=True)
        return (grant.nonce or None) if grant is not None else None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        grant = self._grant(code, request, client)
        return grant is not None and grant.redirect_uri_allowed(redirect_uri)

    def _check_and_set_request_resource(self, request):
        # RFC 8707 resources: DOT reads the Grant again for its `resource`. Neither the token request
        # nor the Grant (read once above) names one, the usual case: DOT's outcome is an empty list.
        if request.grant_type == "authorization_code" and not getattr(request, "resource", None):
            grant = self._grant(request.code, request, request.client)
            if grant is not None and not grant.resource:
                request.resource = []
                return
        super()._check_and_set_request_resource(request)

    def get_code_challenge(self, code, request):
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge or None) if grant is not None else None

    def get_code_challenge_method(self, code, request):
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge_method or None) if grant is not None else None

    # --- PKCE ----------------------------------------------------------------------------------

    def is_pkce_required(self, client_id, request):
        client = request.client or self._load_application(client_id, request)
        return client is None or client.client_type == AbstractApplication.CLIENT_PUBLIC

    # --- the SSO sign-in, from session to grant to tokens ----------------------------------------

    def _create_authorization_code(self, request, code, expires=None):
        # The authorize view only signs in users of this organization; this is the second lock.
        if not self._user_in_tenant(request):
            raise errors.AccessDeniedError(
                description="The signed-in user is not in this organization.", request=request
            )
        sso = getattr(request, "cryptr_sso", None)
        if sso is None:
            raise errors.ServerError(description="The authorization request carries no SSO sign-in.")
        with grant_sign_in(sso.fields()):  # into DOT's INSERT of the Grant, not a second UPDATE
            return super()._create_authorization_code(request, code, expires)

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        # django-oauth-toolkit's checks, on the Grant read once for the whole request.
        grant = self._grant(code, request, client)
        if grant is None or grant.is_expired():
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        request.cryptr_sso = SsoSignIn.of(grant)
        return self._user_in_tenant(request)

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        with noting_revoked_families() as revoked:
            valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        for family in revoked:  # a spent refresh token was replayed: DOT revoked its whole family
            self._audit_refresh_reuse(family, client, request)
        if not valid:
            return False
        request.cryptr_sso = SsoSignIn.of(request.refresh_token_instance)
        return self._user_in_tenant(request)

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        # The IDToken row finalize_id_token saved for this very response: DOT would verify the ID
        # token it just signed and read the row back by its jti.
        id_token = getattr(request, "cryptr_id_token_row", None) if token.get("id_token") else None
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=id_token,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),
            **sso_sign_in(request).fields(),
        )
        self._set_token_value(access_token, token["access_token"])
        access_token.save()
        return access_token

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh_token = RefreshToken(
            user=request.user,
            application=request.client,
            access_token=access_token,
            # A rotated token stays in its family, so a replay of any spent one revokes them all.
            token_family=previous_refresh_token.token_family if previous_refresh_token else uuid.uuid4(),
            resource=getattr(request, "resource", []),
            **sso_sign_in(request).fields(),
        )
        self._set_token_value(refresh_token, refresh_token_code)
        refresh_token.save()
        return refresh_token

    # --- the audit trail: tokens issued and revoked (never the tokens themselves) -------------------

    @staticmethod
    def _audit_context(request) -> dict:
        headers = getattr(request, "headers", None) or {}  # a copy of the Django request's META
        # The issuer's organization as TenantMiddleware found it: no query for it on the token endpoint.
        organization = Organization(pk=request_organization_id(request), domain=request_organization_domain(request))
        return {
            "ip": headers.get("REMOTE_ADDR") or "",
            "user_agent": headers.get("HTTP_USER_AGENT") or "",
            "organization": organization,
        }

    def save_bearer_token(self, token, request, *args, **kwargs):
        # DOT opens a transaction here; the token request's own (TenantOAuthLibCore) is enough, and
        # joining it saves a savepoint round trip pair. Without an outer one this is DOT's transaction.
        with transaction.atomic(using=router.db_for_write(AccessToken), savepoint=False):
            return self._save_bearer_token(token, request, *args, **kwargs)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        super()._save_bearer_token(token, request, *args, **kwargs)
        user, client = request.user, request.client
        record_event(
            type="token.issued",
            actor=f"end_user:{user.pk}",
            user=user,
            connection_id=sso_sign_in(request).idp_id or "",
            **self._audit_context(request),
            data={
                "grant_type": request.grant_type,
                "client_id": client.client_id,
                "scope": token.get("scope", ""),
                "refresh": "refresh_token" in token,
                "openid": "id_token" in token,
            },
        )

    def _audit_refresh_reuse(self, family: dict, client, request) -> None:
        """The trail of a family revocation for reuse, in the family's organization (a token can be
        replayed by anyone holding it, even at another issuer): who presented it, how many tokens
        were still live. No webhook-specific signal: listeners see this event like any other."""
        presented_by = getattr(client, "client_id", None) or request.client_id or ""
        record_event(
            type="token.revoked",
            actor=f"application:{presented_by}" if presented_by else "",
            user=family["user_id"],
            connection_id=family["idp_id"] or "",
            organization=Organization(pk=family["organization_id"], domain=family["organization_domain"]),
            **{key: value for key, value in self._audit_context(request).items() if key != "organization"},
            data={
                "kind": "refresh_family",
                "reason": "refresh_reuse",
                "client_id": family["client_id"],
                "presented_by": presented_by,
                "refresh": family["live"],
            },
        )

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        client = request.client
        found, kind = None, ""
        if getattr(client, "pk", None) is not None:
            checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
            for kind, model in (("access", AccessToken), ("refresh", RefreshToken)):  # noqa: B007
                found = (
                    model.objects.filter(token_checksum=checksum, application=client)
                    .values("user_id", "idp_id")
                    .first()
                )
                if found is not None:
                    break
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        if found is not None:  # an unknown token changes nothing (RFC 7009 2.2): nothing to record
            record_event(
                type="token.revoked",
                actor=f"application:{client.client_id}",
                user=found["user_id"],
                connection_id=found["idp_id"] or "",
                **self._audit_context(request),
                data={"kind": kind, "client_id": client.client_id, "reason": "revocation_endpoint"},
            )

    # --- claims ----------------------------------------------------------------------------------

    def get_additional_claims(self, request):
        user = request.user
        profile = user.profile or {}
        sso = sso_sign_in(request)
        name = profile.get("name") or " ".join(
            part for part in (profile.get("given_name"), profile.get("family_name")) if part
        )
        claims = {
            "email": user.email,
            "email_verified": user.email_verified,
            "given_name": profile.get("given_name"),
            "family_name": profile.get("family_name"),
            "name": name or None,
            "tnt": request_organization_domain(request),
            "sci": sso.idp_id,
            "ips": sso.provider_type,
        }
        return {key: value for key, value in claims.items() if value is not None}

    def get_discovery_claims(self, request):
        return ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", *USER_CLAIMS, *GATEWAY_CLAIMS]

    def get_oidc_issuer_endpoint(self, request):
        return request_issuer(request)

    def get_id_token_dictionary(self, token, token_handler, request):
        claims = self.get_oidc_claims(token, token_handler, request)
        expiration_time = timezone.now() + timedelta(seconds=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS)
        # OIDC Core 2: auth_time is when the user signed in at the IdP, not when this token was made.
        auth_time = sso_sign_in(request).auth_time or timezone.now()
        claims.update(
            iss=self.get_oidc_issuer_endpoint(request),
            exp=int(expiration_time.timestamp()),
            auth_time=int(auth_time.timestamp()),
            jti=str(uuid.uuid4()),
        )
        return claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request):
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        # oauthlib issue #746: the nonce of the authorization request may be missing.
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        signed = sign_jwt(id_token)
        # One INSERT, in the token request's transaction (TenantOAuthLibCore.create_token_response).
        id_token_row = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = id_token_row
        request.id_token = request.cryptr_id_token_row = id_token_row
        return signed

    def _get_key_for_token(self, token):
        """The published key named by the token's `kid` (the active one or one still in overlap)."""
        unverified = jws.JWS()
        try:
            unverified.deserialize(token)
            header = unverified.jose_header
        except (JWException, ValueError, TypeError):
            return None
        if isinstance(header, list) or header.get("alg") != "RS256":
            return None
        return verification_jwks().get(header.get("kid"))
