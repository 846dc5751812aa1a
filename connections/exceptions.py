"""Errors of the SSO connections: each refusal has a stable `code` and a `hint` an IT admin can act on.

The ACS view and the wizard's test step map these to a page or a JSON error; the hint is safe to show
to the admin (it never contains the assertion, the NameID or a key). `detail` carries the technical
reason for the logs (DEBUG level when it may contain user data).

The hints are lazy translations: a page shows them in its reader's language (the end user's
Accept-Language, the wizard's language), while `english_hint`, `str(error)` and the audit trail stay in
English, and the `code` never changes with the language. A hint made with values (the IdP's own status
message) is translated first and filled in after, each time it is shown.
"""

from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _


def _filled(template, **values) -> str:
    """`template % values`, translated when it is shown (the values stay as given)."""
    return lazy(lambda: str(template) % values, str)()


class SsoConnectionError(Exception):
    """Base class of the errors of an SSO connection."""

    code = "connection_error"
    hint = _("The sign-in could not be completed. Check the connection's settings.")

    def __init__(self, hint: str | None = None, *, detail: str = ""):
        if hint is not None:
            self.hint = hint
        self.detail = detail
        english = self.english_hint
        super().__init__(english if not detail else f"{english} ({detail})")

    @property
    def english_hint(self) -> str:
        """The hint in English, whatever the request's language: for logs, audit records and the API."""
        with translation.override("en"):
            return str(self.hint)


class SamlConfigurationError(SsoConnectionError):
    code = "saml_configuration"
    hint = _(
        "The SAML settings of this connection are incomplete: give the IdP metadata, or its entity ID, "
        "SSO URL and signing certificate."
    )


class SamlResponseError(SsoConnectionError):
    """A SAML Response the service provider refuses."""

    code = "saml_response_invalid"
    hint = _("The identity provider's SAML response was refused.")


# --- transport and XML ---------------------------------------------------------------------------


class MessageTooLarge(SamlResponseError):
    code = "saml_message_too_large"
    hint = _(
        "The SAML response is larger than the gateway accepts (256 kB). Remove unneeded attributes "
        "(for example group lists) from the IdP's attribute statement."
    )


class MalformedXml(SamlResponseError):
    code = "saml_malformed"
    hint = _(
        "The SAML response is not a well-formed SAML 2.0 Response. Check that the IdP posts a SAML 2.0 "
        "Response (not WS-Federation or SAML 1.1) to this connection's ACS URL."
    )


class UnsafeXml(SamlResponseError):
    code = "saml_unsafe_xml"
    hint = _(
        "The SAML response contains a DTD, entity declarations or comments in signed values, which the "
        "gateway refuses. No IdP product sends these: this response was likely tampered with."
    )


# --- signatures ----------------------------------------------------------------------------------


class WeakAlgorithm(SamlResponseError):
    code = "saml_weak_algorithm"
    hint = _(
        "The IdP signed with a weak algorithm (SHA-1 or HMAC). Choose RSA-SHA256 and SHA-256 in the IdP: "
        "in Okta, Sign On > SAML 2.0 > Signature Algorithm 'RSA_SHA256' and Digest 'SHA256'; in AD FS, "
        "relying party trust > Advanced > Secure hash algorithm 'SHA-256'; in Entra ID, SAML signing "
        "certificate > Signing algorithm 'SHA-256'."
    )


class SignatureMissing(SamlResponseError):
    code = "saml_signature_missing"
    hint = _(
        "The SAML response is not signed. Configure the IdP to sign the assertion (or the response, "
        "or both): in Entra ID, 'Sign SAML assertion'; in Okta, assertion signing is always on; "
        "in AD FS, set the relying party's SamlResponseSignature."
    )


class SignatureInvalid(SamlResponseError):
    code = "saml_signature_invalid"
    hint = _(
        "The signature of the SAML response does not verify with the IdP certificate configured for this "
        "connection. If the IdP rotated its signing certificate, upload the new certificate or metadata."
    )


class UnknownIssuer(SamlResponseError):
    code = "saml_unknown_issuer"
    hint = _(
        "The SAML response comes from an IdP entity ID that is not the one configured for this connection. "
        "Check the IdP entity ID (Issuer) in the connection settings, or re-import the IdP metadata."
    )


class SignatureWrapping(SamlResponseError):
    code = "saml_signature_wrapping"
    hint = _(
        "The SAML response's structure is not allowed (several assertions, or a signed element that is "
        "not the one used). IdPs do not produce this: the response was likely tampered with."
    )


class EncryptedAssertionError(SamlResponseError):
    code = "saml_encrypted_assertion"
    hint = _(
        "The encrypted assertion could not be decrypted with this connection's SP key. Give the IdP the "
        "SP encryption certificate from this connection's SP metadata, or turn assertion encryption off."
    )


# --- addressing and time -------------------------------------------------------------------------


class WrongAudience(SamlResponseError):
    code = "saml_wrong_audience"
    hint = _(
        "The assertion's Audience is not this connection's SP entity ID. In the IdP, set the Audience URI "
        "(SP Entity ID / Identifier) to the SP entity ID shown in this connection's settings."
    )


class WrongRecipient(SamlResponseError):
    code = "saml_wrong_recipient"
    hint = _(
        "The assertion's Recipient is not this connection's ACS URL. In the IdP, set the ACS URL "
        "(Reply URL / Single sign-on URL) to the one shown in this connection's settings."
    )


class WrongDestination(SamlResponseError):
    code = "saml_wrong_destination"
    hint = _(
        "The response's Destination is not this connection's ACS URL. In the IdP, set the ACS URL "
        "(Reply URL / Single sign-on URL) to the one shown in this connection's settings."
    )


class MissingConditions(SamlResponseError):
    code = "saml_missing_conditions"
    hint = _(
        "The assertion has no Conditions (audience restriction and validity period). Configure the IdP "
        "to include the audience restriction for this SP."
    )


class SubjectConfirmationError(SamlResponseError):
    code = "saml_subject_confirmation"
    hint = _(
        "The assertion has no usable bearer SubjectConfirmation (with a Recipient and a NotOnOrAfter). "
        "Use the IdP's standard SAML 2.0 web browser SSO profile for this application."
    )


class Expired(SamlResponseError):
    code = "saml_expired"
    hint = _(
        "The SAML assertion has expired. Check that the IdP's and the gateway's clocks are right; if the "
        "user took long to post it, ask them to sign in again."
    )


class NotYetValid(SamlResponseError):
    code = "saml_not_yet_valid"
    hint = _(
        "The SAML assertion is not valid yet: the IdP's clock is ahead of the gateway's. Fix the clock "
        "(NTP) or raise the connection's allowed clock skew."
    )


class Replayed(SamlResponseError):
    code = "saml_replayed"
    hint = _("This SAML assertion was already used to sign in. Ask the user to start the sign-in again.")


# --- request / response correlation ---------------------------------------------------------------


class UnsolicitedResponse(SamlResponseError):
    code = "saml_unsolicited"
    hint = _(
        "The IdP sent a response the gateway did not ask for (IdP-initiated sign-in), which this "
        "connection does not allow. Start the sign-in from the application, or allow IdP-initiated "
        "sign-in in the connection settings."
    )


class UnknownInResponseTo(SamlResponseError):
    code = "saml_unknown_in_response_to"
    hint = _(
        "The response answers a sign-in request this browser did not start (or that expired). Ask the "
        "user to start the sign-in again from the application, in the same browser."
    )


class IdpStatusError(SamlResponseError):
    code = "saml_idp_status"
    hint = _("The IdP refused the sign-in.")

    def __init__(self, hint: str | None = None, *, detail: str = "", status_code: str = "", status_message: str = ""):
        self.status_code = status_code
        self.status_message = status_message
        if hint is None:
            said = _filled(_(": “%(message)s”"), message=status_message) if status_message else ""
            hint = _filled(
                _(
                    "The IdP refused the sign-in (%(status)s)%(said)s. Check that the user is assigned to this "
                    "application in the IdP."
                ),
                status=status_code or _("no status code"),
                said=said,
            )
        super().__init__(hint, detail=detail)


# --- OpenID Connect connections (connections/oidc/) -----------------------------------------------


class OidcError(SsoConnectionError):
    code = "oidc_error"
    hint = _("The OpenID Connect sign-in could not be completed.")


class OidcConfigurationError(OidcError):
    code = "oidc_configuration"
    hint = _(
        "The OpenID Connect settings of this connection are incomplete: give the issuer URL (its discovery "
        "document must be readable), the client ID and the client secret of the application registered in the IdP."
    )


class OidcFetchError(OidcError):
    """A document or endpoint of the IdP we could not read (network, TLS, size, address rules)."""

    code = "oidc_idp_unreachable"
    hint = _("The gateway could not reach the identity provider.")


class OidcDiscoveryError(OidcError):
    code = "oidc_discovery_invalid"
    hint = _("The identity provider's discovery document (/.well-known/openid-configuration) cannot be used.")


class OidcStateInvalid(OidcError):
    code = "oidc_state_invalid"
    hint = _(
        "The answer of the identity provider does not belong to a sign-in started in this browser (its state is "
        "missing, unknown or for another connection), or the sign-in took too long. Start the sign-in again from "
        "the application, in the same browser."
    )


class OidcIdpRefused(OidcError):
    code = "oidc_idp_error"
    hint = _("The identity provider refused the sign-in.")

    def __init__(self, hint: str | None = None, *, detail: str = "", error: str = "", description: str = ""):
        if hint is None:
            said = _filled(_(": “%(message)s”"), message=description[:200]) if description else ""
            hint = _filled(
                _(
                    "The identity provider refused the sign-in (%(error)s)%(said)s. Check that the user is assigned "
                    "to this application in the IdP, and that the redirect URI registered there is this "
                    "connection's."
                ),
                error=error or _("no error code"),
                said=said,
            )
        super().__init__(hint, detail=detail)


class OidcTokenRequestFailed(OidcError):
    code = "oidc_token_request_failed"
    hint = _(
        "The identity provider did not exchange the authorization code for tokens. Check the client ID and the "
        "client secret of the connection, and that the redirect URI registered in the IdP is this connection's."
    )


class IdTokenInvalid(OidcError):
    """An ID token the relying party refuses (OpenID Connect Core 3.1.3.7)."""

    code = "oidc_id_token_invalid"
    hint = _("The identity provider's ID token was refused.")


class IdTokenMalformed(IdTokenInvalid):
    code = "oidc_id_token_malformed"
    hint = _("The identity provider sent no ID token, or one that is not a signed JWT with the required claims.")


class IdTokenAlgorithmRefused(IdTokenInvalid):
    code = "oidc_id_token_algorithm"
    hint = _(
        "The ID token is signed with an algorithm the gateway refuses (unsigned, HMAC or unknown). Choose RS256 "
        "(or PS256, ES256) as the ID token signing algorithm of the application in the IdP."
    )


class IdTokenSigningKeyUnknown(IdTokenInvalid):
    code = "oidc_unknown_signing_key"
    hint = _(
        "The ID token is signed with a key that is not in the identity provider's published keys (JWKS) for this "
        "connection's issuer. Check the issuer configured on the connection."
    )


class IdTokenSignatureInvalid(IdTokenInvalid):
    code = "oidc_id_token_signature"
    hint = _("The ID token's signature does not verify with the identity provider's published keys (JWKS).")


class IdTokenWrongIssuer(IdTokenInvalid):
    code = "oidc_wrong_issuer"
    hint = _(
        "The ID token comes from another issuer than the one configured on this connection. Check the issuer URL "
        "(for Entra ID, the tenant id)."
    )


class IdTokenWrongAudience(IdTokenInvalid):
    code = "oidc_wrong_audience"
    hint = _(
        "The ID token was issued to another application than this connection's client ID. Check the client ID "
        "configured on the connection."
    )


class IdTokenExpired(IdTokenInvalid):
    code = "oidc_id_token_expired"
    hint = _("The ID token has expired. Check the clocks of the IdP and of the gateway, then sign in again.")


class IdTokenNotYetValid(IdTokenInvalid):
    code = "oidc_id_token_not_yet_valid"
    hint = _("The ID token was issued in the future: the IdP's clock is ahead of the gateway's. Fix the clock (NTP).")


class IdTokenNonceMismatch(IdTokenInvalid):
    code = "oidc_nonce_mismatch"
    hint = _(
        "The ID token does not carry the nonce of this browser's sign-in request (replayed or injected token). "
        "Start the sign-in again from the application."
    )


class OidcUserinfoError(OidcError):
    code = "oidc_userinfo_invalid"
    hint = _(
        "The identity provider's userinfo answer could not be used (unreadable, or about another subject than the "
        "ID token)."
    )


class HostedDomainRefused(OidcError):
    code = "oidc_hosted_domain"
    hint = _(
        "The Google account is not in one of the organization's Google Workspace domains (the 'hd' claim is missing "
        "or another domain). Sign in with the company account, or add the domain to the connection's hosted domains."
    )


class TenantRefused(OidcError):
    code = "oidc_wrong_tenant"
    hint = _(
        "The Microsoft account belongs to another Entra ID tenant than the one configured on this connection. "
        "Sign in with the company account, or check the tenant id of the connection."
    )


class EmailNotVerified(OidcError):
    code = "oidc_email_not_verified"
    hint = _(
        "The identity provider says this person's email address is not verified (email_verified is false), so it "
        "cannot identify them. Verify the address in the IdP."
    )
