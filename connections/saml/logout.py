"""SAML Single Logout (SAML Profiles 4.4) for one connection: the IdP's LogoutRequest and LogoutResponse
checked as strictly as a login Response, and the signed messages the gateway sends back.

pysaml2 builds, signs and parses the messages (`create_logout_request`, `create_logout_response`,
`apply_binding`, `parse_logout_request`, `parse_logout_request_response`), with the same in-process
verifier as the ACS (`response._client`). Around it, the checks pysaml2 does not make for an SP:

- a signature is required: the query signature of the HTTP-Redirect binding (SAML Bindings 3.4.4.1,
  verified over the octets as they were sent, with the connection's IdP certificates only), or one
  enveloped XML signature on the message for HTTP-POST (pysaml2 accepts an unsigned LogoutRequest when
  the SP does not "want authn requests signed", and unsigned LogoutResponses always);
- SHA-1 and HMAC refused (the ACS allow-list, also for the Redirect binding's SigAlg);
- Issuer = the connection's IdP, Destination = this connection's SLO URL, IssueInstant recent and a
  LogoutRequest's NotOnOrAfter not passed; no DTD or entities; size caps before decoding and inflating;
- each LogoutRequest ID is accepted once (the assertion replay cache, shared by all processes);
- a LogoutResponse answers a LogoutRequest this browser sent (its ID kept in the `saml_session` cookie,
  like djangosaml2's outstanding AuthnRequests).

Where the browser goes after an SP-initiated logout is kept server-side with the request ID: RelayState
is limited to 80 bytes and unprotected (SAML Bindings 3.4.3), so it carries an opaque handle only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
import time
import zlib
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import quote_plus, unquote_plus

from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2 import xmldsig as ds
from saml2.s_utils import success_status_factory
from saml2.sigver import SIGNER_ALGS, extract_rsa_key_from_x509_cert, pem_format

from connections import exceptions as errors
from connections.exceptions import SsoConnectionError

from . import replay
from .config import SamlSettings, build_sp_config
from .response import (
    ALLOWED_SIGNATURE_METHODS,
    MAX_MESSAGE_BYTES,
    NS_DS,
    NS_SAML,
    NS_SAMLP,
    STATUS_SUCCESS,
    _check_signature_algorithms,
    _children,
    _parse_xml,
    _text,
    _timestamp,
    sp_client,
)

logger = logging.getLogger(__name__)

LOGOUT_REQUEST = f"{{{NS_SAMLP}}}LogoutRequest"
LOGOUT_RESPONSE = f"{{{NS_SAMLP}}}LogoutResponse"
SIGNATURE = f"{{{NS_DS}}}Signature"
MAX_MESSAGE_AGE = 10 * 60  # a front-channel logout message is used at once: 10 minutes of IssueInstant age
SLO_REQUESTS_KEY = "cryptr_slo_requests"  # in request.saml_session: {LogoutRequest ID: where to go next}
MAX_OUTSTANDING = 5


# --- errors ----------------------------------------------------------------------------------------------


class SamlLogoutError(SsoConnectionError):
    code = "saml_logout_invalid"
    hint = _("The identity provider's SAML logout message was refused.")


class LogoutMalformed(SamlLogoutError):
    code = "saml_logout_malformed"
    hint = _(
        "The SAML logout message is not a well-formed SAML 2.0 LogoutRequest or LogoutResponse. Check that "
        "the IdP sends its single logout messages to this connection's SLO URL."
    )


class LogoutSignatureMissing(SamlLogoutError):
    code = "saml_logout_signature_missing"
    hint = _(
        "The SAML logout message is not signed. Configure the IdP to sign its LogoutRequest and "
        "LogoutResponse messages (RSA-SHA256)."
    )


class LogoutSignatureInvalid(SamlLogoutError):
    code = "saml_logout_signature_invalid"
    hint = _(
        "The signature of the SAML logout message does not verify with the IdP certificate configured for "
        "this connection. If the IdP rotated its signing certificate, upload the new certificate or metadata."
    )


class LogoutWrongIssuer(SamlLogoutError):
    code = "saml_logout_unknown_issuer"
    hint = _(
        "The SAML logout message comes from an IdP entity ID that is not the one configured for this "
        "connection. Check the connection's IdP entity ID, or re-import the IdP metadata."
    )


class LogoutWrongDestination(SamlLogoutError):
    code = "saml_logout_wrong_destination"
    hint = _(
        "The SAML logout message is addressed to another URL. In the IdP, set the single logout URL to "
        "this connection's SLO URL."
    )


class LogoutExpired(SamlLogoutError):
    code = "saml_logout_expired"
    hint = _(
        "The SAML logout message has expired (or is not valid yet). Check the IdP's and the gateway's clocks, "
        "then sign out again."
    )


class LogoutUnknownInResponseTo(SamlLogoutError):
    code = "saml_logout_unknown_in_response_to"
    hint = _(
        "This logout answer does not match a sign-out started in this browser (or it expired). You are "
        "signed out of the application; sign out at your company's identity provider if needed."
    )


class LogoutRefusedByIdp(SamlLogoutError):
    code = "saml_logout_idp_status"
    hint = _(
        "You are signed out of the application, but your company's identity provider did not confirm "
        "that it signed you out too. Sign out at the identity provider, or close the browser."
    )


class LogoutReplayed(SamlLogoutError):
    code = "saml_logout_replayed"
    hint = _("This SAML LogoutRequest was already used. Nothing changed; sign out again at the identity provider.")


class LogoutNotSupported(SamlLogoutError):
    code = "saml_logout_not_supported"
    hint = _("The identity provider of this connection has no single logout endpoint.")


# --- messages ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogoutRequestIn:
    """A verified LogoutRequest from the connection's IdP."""

    id: str
    name_id: str
    name_id_format: str
    session_indexes: tuple[str, ...]
    binding: str
    relay_state: str
    message: object  # pysaml2's samlp.LogoutRequest, to answer it


@dataclass(frozen=True)
class LogoutResponseIn:
    in_response_to: str
    status_ok: bool
    status_code: str
    relay_state: str


@dataclass(frozen=True)
class Outgoing:
    """A message for the browser to carry: a redirect (`location`) or an auto-submitted form."""

    binding: str
    location: str = ""
    form_action: str = ""
    form_fields: dict | None = None


class SamlLogout:
    """Single logout for one connection's SAML settings."""

    def __init__(self, settings: SamlSettings):
        self.settings = settings
        self.config = build_sp_config(settings)
        self.idp_entity_id: str = self.config.cryptr_idp_entity_id
        self.client = sp_client(self.config)

    # --- the IdP's SLO endpoint ---------------------------------------------------------------------

    def idp_slo_service(self, preferred: str = "") -> tuple[str, str] | None:
        """(binding, location) of the IdP's SingleLogoutService: `preferred` when offered, else Redirect,
        else POST; None when the IdP has none."""
        services = self.client.metadata.single_logout_service(self.idp_entity_id, typ="idpsso") or {}
        configured = getattr(self.settings, "idp_slo_binding", "")
        for binding in (preferred, configured, BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
            for service in services.get(binding, []) if binding else []:
                if service.get("location"):
                    return binding, service["location"]
        return None

    # --- incoming --------------------------------------------------------------------------------------

    def parse_request(self, data, binding: str, raw_query: str = "") -> LogoutRequestIn:
        try:
            return self._parse_request(data, binding, raw_query)
        except SsoConnectionError as exc:
            logger.warning(
                "SAML LogoutRequest refused for connection %s: %s %s", self.settings.idp_id, exc.code, exc.detail
            )
            raise

    def parse_response(self, data, binding: str, raw_query: str = "") -> LogoutResponseIn:
        try:
            return self._parse_response(data, binding, raw_query)
        except SsoConnectionError as exc:
            logger.warning(
                "SAML LogoutResponse refused for connection %s: %s %s", self.settings.idp_id, exc.code, exc.detail
            )
            raise

    def _parse_request(self, data, binding, raw_query) -> LogoutRequestIn:
        encoded = data.get("SAMLRequest", "")
        root = self._checked(encoded, "SAMLRequest", LOGOUT_REQUEST, data, binding, raw_query)
        now = time.time()
        not_on_or_after = _timestamp(root.get("NotOnOrAfter"), "NotOnOrAfter")
        if not_on_or_after is not None and now - self.settings.clock_skew >= not_on_or_after:
            raise LogoutExpired(detail="LogoutRequest NotOnOrAfter has passed")
        name_ids = _children(root, f"{{{NS_SAML}}}NameID")
        if len(name_ids) != 1 or not _text(name_ids[0]):
            # EncryptedID and BaseID are not used by the IdPs the gateway supports.
            raise LogoutMalformed(detail="LogoutRequest without one plain NameID")
        for element in root.iter():
            if not isinstance(element.tag, str):
                raise errors.UnsafeXml(detail="a comment or processing instruction in the LogoutRequest")
        try:
            # The message as sent: pysaml2 decodes the same bytes checked above, and verifies the XML
            # signature of the POST binding with the connection's IdP keys only.
            parsed = self.client.parse_logout_request(encoded, binding)
        except Exception as exc:  # pysaml2 raises many types; its messages carry the document
            raise _pysaml2_refusal(exc) from None
        if parsed is None or parsed.message is None or parsed.message.id != root.get("ID"):
            raise LogoutMalformed(detail="pysaml2 parsed another LogoutRequest")
        if binding == BINDING_HTTP_POST and parsed.message.signature is None:
            raise LogoutSignatureMissing(detail="pysaml2 saw no signature")
        # Last, once verified (a forged message must not burn a genuine ID): each LogoutRequest is used once.
        issued = _timestamp(root.get("IssueInstant"), "IssueInstant")
        if not replay.claim_assertion_id(
            idp_id=self.settings.idp_id,
            issuer=f"{self.idp_entity_id}#LogoutRequest",
            assertion_id=root.get("ID"),
            not_on_or_after=issued + MAX_MESSAGE_AGE,
            clock_skew=self.settings.clock_skew,
        ):
            raise LogoutReplayed(detail="LogoutRequest ID already used")
        name_id = name_ids[0]
        return LogoutRequestIn(
            id=root.get("ID"),
            name_id=_text(name_id),
            name_id_format=name_id.get("Format", ""),
            session_indexes=tuple(_text(e) for e in _children(root, f"{{{NS_SAMLP}}}SessionIndex")),
            binding=binding,
            relay_state=data.get("RelayState", ""),
            message=parsed.message,
        )

    def _parse_response(self, data, binding, raw_query) -> LogoutResponseIn:
        encoded = data.get("SAMLResponse", "")
        root = self._checked(encoded, "SAMLResponse", LOGOUT_RESPONSE, data, binding, raw_query)
        status = root.find(f"{{{NS_SAMLP}}}Status/{{{NS_SAMLP}}}StatusCode")
        if status is None:
            raise LogoutMalformed(detail="no Status/StatusCode")
        status_code = status.get("Value", "")
        if status_code == STATUS_SUCCESS:
            try:
                parsed = self.client.parse_logout_request_response(encoded, binding)
            except Exception as exc:
                raise _pysaml2_refusal(exc) from None
            if parsed is None or parsed.response is None or parsed.response.id != root.get("ID"):
                raise LogoutMalformed(detail="pysaml2 parsed another LogoutResponse")
            if binding == BINDING_HTTP_POST and parsed.response.signature is None:
                raise LogoutSignatureMissing(detail="pysaml2 saw no signature")
        else:
            # pysaml2 raises on any other status before saying whether the signature holds; ours was checked
            # on the Redirect binding, and for POST the XML signature is verified here the same way.
            if binding == BINDING_HTTP_POST:
                try:
                    self.client.sec.correctly_signed_logout_response(
                        _decode(encoded, binding).decode("utf-8"), must=True
                    )
                except Exception as exc:
                    raise _pysaml2_refusal(exc) from None
        return LogoutResponseIn(
            in_response_to=root.get("InResponseTo", ""),
            status_ok=status_code == STATUS_SUCCESS,
            status_code=status_code.rsplit(":", 1)[-1],
            relay_state=data.get("RelayState", ""),
        )

    def _checked(self, encoded: str, field: str, tag: str, data, binding: str, raw_query: str):
        """Decode, parse and check everything but pysaml2's own verification; returns the root element."""
        if not encoded:
            raise LogoutMalformed(detail=f"no {field}")
        xml = _decode(encoded, binding)
        try:
            xml.decode("utf-8")
        except UnicodeDecodeError:
            raise LogoutMalformed(detail="not UTF-8") from None
        try:
            root = _parse_xml(xml)
        except errors.MalformedXml as exc:
            raise LogoutMalformed(detail=exc.detail) from None
        if root.tag != tag:
            raise LogoutMalformed(detail=f"root element is {root.tag!r}")
        if root.get("Version") != "2.0":
            raise LogoutMalformed(detail=f"SAML Version {root.get('Version')!r}")
        if not root.get("ID"):
            raise LogoutMalformed(detail="no ID")
        issuer = _children(root, f"{{{NS_SAML}}}Issuer")
        if len(issuer) != 1 or _text(issuer[0]) != self.idp_entity_id:
            raise LogoutWrongIssuer(detail=f"Issuer {[_text(i) for i in issuer]!r}")
        self._check_structure(root)
        # Bindings 3.4.5.2 / 3.5.5.2: a signed message names its Destination, and it must be us.
        destination = root.get("Destination")
        if destination != self.settings.slo_url:
            raise LogoutWrongDestination(detail=f"Destination {destination!r}, SLO {self.settings.slo_url!r}")
        now = time.time()
        issued = _timestamp(root.get("IssueInstant"), "IssueInstant")
        if issued is None:
            raise LogoutMalformed(detail="no IssueInstant")
        if issued > now + self.settings.clock_skew:
            raise LogoutExpired(detail="IssueInstant in the future")
        if issued < now - MAX_MESSAGE_AGE - self.settings.clock_skew:
            raise LogoutExpired(detail="IssueInstant too old")
        if binding == BINDING_HTTP_REDIRECT:
            if root.find(SIGNATURE) is not None:
                raise LogoutMalformed(detail="an XML signature in an HTTP-Redirect message")
            self._verify_redirect_signature(field, data, raw_query)
        elif binding == BINDING_HTTP_POST:
            signature = root.find(SIGNATURE)
            if signature is None:
                raise LogoutSignatureMissing(detail="no ds:Signature on the message")
        else:
            raise LogoutMalformed(detail=f"binding {binding}")
        return root

    def _check_structure(self, root) -> None:
        parents = {child: parent for parent in root.iter() for child in parent}
        seen = set()
        for element in root.iter():
            if element.tag == f"{{{NS_DS}}}Object":
                raise errors.SignatureWrapping(detail="ds:Object in the logout message")
            value = element.get("ID")
            if value is not None:
                if value in seen:
                    raise errors.SignatureWrapping(detail="an ID value appears twice")
                seen.add(value)
        for signature in root.iter(SIGNATURE):
            if parents.get(signature) is not root:
                raise errors.SignatureWrapping(detail="a Signature that is not on the logout message itself")
            references = signature.findall(f"{{{NS_DS}}}SignedInfo/{{{NS_DS}}}Reference")
            if len(references) != 1 or references[0].get("URI") != f"#{root.get('ID')}":
                raise errors.SignatureWrapping(detail="the Signature does not reference the message")
            _check_signature_algorithms(signature)
        if len(root.findall(SIGNATURE)) > 1:
            raise errors.SignatureWrapping(detail="two Signatures on the message")

    def _verify_redirect_signature(self, field: str, data, raw_query: str) -> None:
        signature_b64, sig_alg = data.get("Signature"), data.get("SigAlg")
        if not signature_b64 or not sig_alg:
            raise LogoutSignatureMissing(detail="no Signature/SigAlg in the query")
        if sig_alg not in ALLOWED_SIGNATURE_METHODS or sig_alg not in SIGNER_ALGS:
            raise errors.WeakAlgorithm(detail=f"SigAlg {sig_alg}")
        try:
            signature = base64.b64decode(signature_b64, validate=False)
        except (binascii.Error, ValueError):
            raise LogoutSignatureInvalid(detail="Signature is not base64") from None
        candidates = _redirect_signed_octets(field, data, raw_query)
        certs = self.config.metadata.certs(self.idp_entity_id, "idpsso", "signing")
        signer = SIGNER_ALGS[sig_alg]
        for _name, cert in certs:
            key = extract_rsa_key_from_x509_cert(pem_format(cert))
            for octets in candidates:
                try:
                    if signer.verify(octets, signature, key):
                        return
                except Exception:  # noqa: S112 - a wrong key type or a malformed signature: try the next
                    continue
        raise LogoutSignatureInvalid(detail="no configured IdP certificate verifies the query signature")

    # --- outgoing -------------------------------------------------------------------------------------

    def logout_response(self, request_in: LogoutRequestIn, *, success: bool) -> Outgoing:
        """The signed LogoutResponse to the IdP's SLO endpoint, on the request's binding when the IdP offers it."""
        service = self.idp_slo_service(preferred=request_in.binding)
        if service is None:
            raise LogoutNotSupported(detail="no SingleLogoutService in the IdP metadata")
        binding, location = service
        status = success_status_factory() if success else _status("urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal")
        response = self.client.create_logout_response(
            request_in.message,
            bindings=[binding],
            status=status,
            sign=binding == BINDING_HTTP_POST,
            sign_alg=ds.SIG_RSA_SHA256,
            digest_alg=ds.DIGEST_SHA256,
        )
        return self._outgoing(binding, location, str(response), request_in.relay_state, response=True)

    def logout_request(self, *, name_id: str, name_id_format: str, session_index: str) -> tuple[str, str, Outgoing]:
        """(request ID, RelayState, message) of a signed LogoutRequest for the user's IdP session."""
        service = self.idp_slo_service()
        if service is None:
            raise LogoutNotSupported(detail="no SingleLogoutService in the IdP metadata")
        binding, location = service
        relay_state = secrets.token_urlsafe(16)
        request_id, request = self.client.create_logout_request(
            location,
            self.idp_entity_id,
            name_id=saml.NameID(text=name_id, format=name_id_format or None),
            session_indexes=[session_index] if session_index else None,
            sign=binding == BINDING_HTTP_POST,
            sign_alg=ds.SIG_RSA_SHA256,
            digest_alg=ds.DIGEST_SHA256,
        )
        return request_id, relay_state, self._outgoing(binding, location, str(request), relay_state, response=False)

    def _outgoing(self, binding, location, xml, relay_state, *, response) -> Outgoing:
        field = "SAMLResponse" if response else "SAMLRequest"
        if binding == BINDING_HTTP_REDIRECT:
            info = self.client.apply_binding(
                binding, xml, location, relay_state, response=response, sign=True, sigalg=ds.SIG_RSA_SHA256
            )
            return Outgoing(binding=binding, location=dict(info["headers"])["Location"])
        fields = {field: base64.b64encode(xml.encode("utf-8")).decode("ascii")}
        if relay_state:
            fields["RelayState"] = relay_state
        return Outgoing(binding=binding, form_action=location, form_fields=fields)


# --- the outstanding LogoutRequests of a browser (the saml_session cookie) --------------------------------


def remember_logout_request(
    saml_session, *, request_id: str, relay_state: str, idp_id: str, next_url: str, schemes: list[str], domain: str
) -> None:
    pending = dict(saml_session.get(SLO_REQUESTS_KEY) or {})
    pending[request_id] = {
        "relay_state": relay_state,
        "idp_id": idp_id,
        "next": next_url,
        "schemes": schemes,
        "domain": domain,
        "at": time.time(),
    }
    # Only the newest few: the cookie stays small.
    for old in sorted(pending, key=lambda k: pending[k]["at"])[:-MAX_OUTSTANDING]:
        pending.pop(old)
    saml_session[SLO_REQUESTS_KEY] = pending


def claim_logout_request(saml_session, *, in_response_to: str, idp_id: str, relay_state: str) -> dict:
    """The stored request this LogoutResponse answers (removed: it is answered once), or LogoutUnknownInResponseTo."""
    pending = dict(saml_session.get(SLO_REQUESTS_KEY) or {})
    entry = pending.get(in_response_to) if in_response_to else None
    if entry is None or entry["idp_id"] != idp_id:
        raise LogoutUnknownInResponseTo(detail="InResponseTo not among this browser's LogoutRequests")
    if relay_state and relay_state != entry["relay_state"]:
        raise LogoutUnknownInResponseTo(detail="RelayState differs from the one sent")
    if time.time() - entry["at"] > MAX_MESSAGE_AGE + 3600:
        raise LogoutUnknownInResponseTo(detail="the LogoutRequest is too old")
    pending.pop(in_response_to)
    saml_session[SLO_REQUESTS_KEY] = pending
    return entry


# --- which gateway sessions a SAML login opened (to end them when the IdP asks) --------------------------


def _index_key(idp_id: str, name_id: str) -> str:
    return f"saml-slo:{idp_id}:{hashlib.sha256(name_id.encode('utf-8')).hexdigest()}"


def remember_sso_session(*, idp_id: str, name_id: str, session_key: str | None) -> None:
    """Index the gateway session a SAML login opened by (connection, NameID). A LogoutRequest posted
    cross-site (HTTP-POST binding) arrives without the gateway's SameSite=Lax session cookie: the index
    finds the session anyway."""
    if not session_key:
        return
    key = _index_key(idp_id, name_id)
    keys = [*[k for k in (cache.get(key) or []) if k != session_key][-19:], session_key]
    cache.set(key, keys, timeout=django_settings.SESSION_COOKIE_AGE)


def indexed_session_keys(*, idp_id: str, name_id: str) -> list[str]:
    return list(cache.get(_index_key(idp_id, name_id)) or [])


def forget_sso_sessions(*, idp_id: str, name_id: str, session_keys: list[str]) -> None:
    key = _index_key(idp_id, name_id)
    remaining = [k for k in (cache.get(key) or []) if k not in session_keys]
    if remaining:
        cache.set(key, remaining, timeout=django_settings.SESSION_COOKIE_AGE)
    else:
        cache.delete(key)


def session_store(session_key: str):
    return import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def sso_session_matches(data: dict | None, *, idp_id: str, request_in: LogoutRequestIn) -> bool:
    """Whether an end-user sign-in (login_session's stored dict) is the one the LogoutRequest names:
    opened by this connection, for this NameID (and format, when both say), within one of the
    request's SessionIndexes when it lists any."""
    if not data or data.get("idp_id") != idp_id:
        return False
    sso = data.get("sso_session") or {}
    if sso.get("protocol") != "saml" or sso.get("name_id") != request_in.name_id:
        return False
    if request_in.name_id_format and sso.get("name_id_format") and sso["name_id_format"] != request_in.name_id_format:
        return False
    return not (request_in.session_indexes and sso.get("session_index") not in request_in.session_indexes)


# --- helpers ----------------------------------------------------------------------------------------------


def _decode(encoded: str, binding: str) -> bytes:
    data = encoded.encode("ascii", errors="replace") if isinstance(encoded, str) else encoded
    if len(data) > MAX_MESSAGE_BYTES:
        raise errors.MessageTooLarge(detail=f"{len(data)} bytes of base64")
    try:
        raw = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise LogoutMalformed(detail="not base64") from None
    if binding == BINDING_HTTP_REDIRECT:
        inflater = zlib.decompressobj(-15)
        try:
            raw = inflater.decompress(raw, MAX_MESSAGE_BYTES + 1)
        except zlib.error:
            raise LogoutMalformed(detail="does not inflate") from None
        if len(raw) > MAX_MESSAGE_BYTES or inflater.unconsumed_tail:
            raise errors.MessageTooLarge(detail="inflates past the cap")
    return raw


def _redirect_signed_octets(field: str, data, raw_query: str) -> list[bytes]:
    """The octets an HTTP-Redirect signature covers: `SAMLRequest=...&RelayState=...&SigAlg=...` with the
    values exactly as they were URL-encoded by the sender (Bindings 3.4.4.1), and, for senders whose
    encoding the query no longer shows, the values re-encoded the way pysaml2 does."""
    raw: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        name, _, value = part.partition("=")
        raw.setdefault(unquote_plus(name), []).append(value)
    for name in (field, "RelayState", "SigAlg", "Signature"):
        if len(raw.get(name, [])) > 1:
            raise LogoutMalformed(detail=f"{name} given twice")
    candidates = []
    if raw.get(field):
        candidates.append("&".join(f"{n}={raw[n][0]}" for n in (field, "RelayState", "SigAlg") if n in raw))
    candidates.append("&".join(f"{n}={quote_plus(data[n])}" for n in (field, "RelayState", "SigAlg") if n in data))
    return [c.encode("ascii", errors="replace") for c in dict.fromkeys(candidates)]


def _status(code: str):
    from saml2.samlp import Status, StatusCode

    return Status(
        status_code=StatusCode(value="urn:oasis:names:tc:SAML:2.0:status:Responder", status_code=StatusCode(value=code))
    )


def _pysaml2_refusal(exc: Exception) -> SamlLogoutError:
    from saml2.sigver import MissingKey

    if isinstance(exc, SsoConnectionError):
        return exc
    if isinstance(exc, MissingKey):
        return LogoutWrongIssuer(detail="no key in this connection's metadata for the issuer")
    message = str(exc)
    if isinstance(exc, errors.WeakAlgorithm):
        return exc
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, errors.WeakAlgorithm):
        return cause
    if "signature" in message.lower() or "signed" in message.lower():
        return LogoutSignatureInvalid(detail=f"pysaml2: {type(exc).__name__}")
    return LogoutMalformed(detail=f"pysaml2: {type(exc).__name__}")


def end_sso_sessions(request, *, connection, request_in: LogoutRequestIn) -> int:
    """End every gateway sign-in the LogoutRequest names: this browser's (when its session cookie came
    along) and the others the index knows for (connection, NameID). The user's tokens in the
    organization are revoked. Returns how many sign-ins were ended."""
    from applications.oauth.sign_out import revoke_end_user_tokens
    from connections.login_session import SESSION_KEY, end_user_logout
    from cryptr_sso.audit import Actor
    from organizations.models import User

    def revoke(data):
        user = User.objects.filter(pk=data["user_id"], organization=connection.organization).first()
        if user is not None:
            # The person signed out at their IdP, which tells us through their browser (front channel):
            # the end user is the actor, the reason says the IdP's single logout brought it.
            revoke_end_user_tokens(
                user=user,
                organization=connection.organization,
                reason="saml_slo",
                connection_id=connection.id,
                by=Actor.end_user(user, request),
            )

    ended, handled = 0, []
    current = request.session.get(SESSION_KEY)
    if sso_session_matches(current, idp_id=connection.id, request_in=request_in):
        handled.append(request.session.session_key)
        revoke(current)
        end_user_logout(request)
        request.session.cycle_key()
        ended += 1
    for key in indexed_session_keys(idp_id=connection.id, name_id=request_in.name_id):
        if key in handled:
            continue
        store = session_store(key)
        data = store.get(SESSION_KEY)
        if data is None:
            handled.append(key)  # gone, or signed out already
        elif sso_session_matches(data, idp_id=connection.id, request_in=request_in):
            revoke(data)
            store.pop(SESSION_KEY, None)
            store.save()
            handled.append(key)
            ended += 1
    forget_sso_sessions(idp_id=connection.id, name_id=request_in.name_id, session_keys=handled)
    return ended
