"""One pysaml2 SP configuration per SSO connection, built from plain settings (no Django model here).

The connection model turns its row into a `SamlSettings`; `build_sp_config(settings)` returns the
`SPConfig` djangosaml2 and `SamlResponseProcessor` use. Only that connection's IdP is loaded into it:
a response signed by another tenant's IdP finds no key here (LIBRARY-NOTES, "one SP configuration per
connection"). Building a config costs tens of milliseconds (key loading, metadata parsing), so built
configs are cached in-process per `fingerprint()`; a changed connection has a new fingerprint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

from django.utils.translation import gettext_lazy as _
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md, samlp
from saml2 import xmldsig as ds
from saml2.config import SPConfig

from connections.exceptions import SamlConfigurationError

DEFAULT_CLOCK_SKEW = 60  # seconds; SAML Core 1.3.3 leaves it to the relying party.
_CACHE_SIZE = 256

_PEM_BODY = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class SamlSettings:
    """What the SP needs to know about one SAML connection.

    Give the IdP either as `idp_metadata_xml` (one IdP EntityDescriptor) or as `idp_entity_id`,
    `idp_sso_url` and `idp_certificates` (PEM); with metadata, `idp_entity_id` (if set) must match it.
    """

    idp_id: str
    sp_entity_id: str
    acs_url: str
    sp_private_key_pem: str
    sp_certificate_pem: str
    slo_url: str = ""
    idp_metadata_xml: str = ""
    idp_entity_id: str = ""
    idp_sso_url: str = ""
    idp_slo_url: str = ""
    # The binding the IdP receives AuthnRequests (LogoutRequests) on; "" lists both at the same URL. The
    # IdP metadata built for the connection names only this binding, so djangosaml2's LoginView (which
    # falls back to the other binding when its SAML_DEFAULT_BINDING is not offered) uses it.
    idp_sso_binding: str = ""
    idp_slo_binding: str = ""
    idp_certificates: tuple[str, ...] = field(default=())
    allow_idp_initiated: bool = False
    # Entra ID and AD FS sign only the assertion: requiring a signed Response is an opt-in.
    want_response_signed: bool = False
    clock_skew: int = DEFAULT_CLOCK_SKEW
    # (private key PEM, certificate PEM) of SP keys published for the next switch: in the metadata
    # beside the active one, and tried when decrypting (cryptr_sso.signing_keys).
    sp_next_key_pairs: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self):
        # A list would make the dataclass unhashable and the fingerprint order-dependent on callers.
        object.__setattr__(self, "idp_certificates", tuple(self.idp_certificates))
        object.__setattr__(self, "sp_next_key_pairs", tuple(tuple(pair) for pair in self.sp_next_key_pairs))

    def fingerprint(self) -> str:
        """A stable digest of every setting: the cache key of the built SPConfig."""
        payload = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def certificate_base64(pem: str) -> str:
    """The base64 body of a PEM certificate (what metadata's X509Certificate holds)."""
    match = _PEM_BODY.search(pem)
    body = match.group(1) if match else pem
    return "".join(body.split())


def minimal_idp_metadata(
    *,
    entity_id: str,
    sso_url: str,
    certificates: tuple[str, ...],
    slo_url: str = "",
    sso_binding: str = "",
    slo_binding: str = "",
) -> str:
    """An IdP EntityDescriptor for a connection configured by hand (entity ID, SSO URL, certificates)."""
    key_descriptors = [
        md.KeyDescriptor(
            use="signing",
            key_info=ds.KeyInfo(
                x509_data=[ds.X509Data(x509_certificate=ds.X509Certificate(text=certificate_base64(c)))]
            ),
        )
        for c in certificates
    ]
    bindings = (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST)
    sso_bindings = (sso_binding,) if sso_binding in bindings else bindings
    slo_bindings = (slo_binding,) if slo_binding in bindings else bindings
    descriptor = md.IDPSSODescriptor(
        protocol_support_enumeration=samlp.NAMESPACE,
        key_descriptor=key_descriptors,
        single_sign_on_service=[md.SingleSignOnService(binding=b, location=sso_url) for b in sso_bindings],
        single_logout_service=[md.SingleLogoutService(binding=b, location=slo_url) for b in slo_bindings if slo_url],
    )
    return str(md.EntityDescriptor(entity_id=entity_id, idpsso_descriptor=[descriptor]))


def _idp_metadata(settings: SamlSettings) -> str:
    if settings.idp_metadata_xml.strip():
        return settings.idp_metadata_xml
    if not (settings.idp_entity_id and settings.idp_sso_url and settings.idp_certificates):
        raise SamlConfigurationError(detail="no IdP metadata and no entity ID / SSO URL / certificate")
    return minimal_idp_metadata(
        entity_id=settings.idp_entity_id,
        sso_url=settings.idp_sso_url,
        certificates=settings.idp_certificates,
        slo_url=settings.idp_slo_url,
        sso_binding=settings.idp_sso_binding,
        slo_binding=settings.idp_slo_binding,
    )


class _KeyFiles:
    """pysaml2 and the xmlsec1 binary read keys from files: write them once per built config, readable
    by this user only (mkstemp is 0600), and remove them when the config is dropped."""

    def __init__(self, key_pem: str, cert_pem: str, next_pairs: tuple[tuple[str, str], ...] = ()):
        self.key_file = self._write(key_pem, ".key.pem")
        self.cert_file = self._write(cert_pem, ".crt.pem")
        self.next_pairs = [(self._write(key, ".key.pem"), self._write(cert, ".crt.pem")) for key, cert in next_pairs]

    @staticmethod
    def _write(content: str, suffix: str) -> str:
        fd, path = tempfile.mkstemp(prefix="cryptr-sp-", suffix=suffix)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        return path

    def __del__(self):
        paths = [getattr(self, "key_file", None), getattr(self, "cert_file", None)]
        paths += [path for pair in getattr(self, "next_pairs", ()) for path in pair]
        for path in paths:
            if path:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def _xmlsec_binary() -> str:
    binary = shutil.which("xmlsec1")
    if not binary:
        raise SamlConfigurationError(
            _("The xmlsec1 program is not installed on the gateway's server (run `make install`)."),
            detail="xmlsec1 not found in PATH",
        )
    return binary


def _sp_config_dict(settings: SamlSettings, keys: _KeyFiles, metadata_xml: str) -> dict:
    endpoints = {"assertion_consumer_service": [(settings.acs_url, BINDING_HTTP_POST)]}
    if settings.slo_url:
        endpoints["single_logout_service"] = [
            (settings.slo_url, BINDING_HTTP_REDIRECT),
            (settings.slo_url, BINDING_HTTP_POST),
        ]
    return {
        "entityid": settings.sp_entity_id,
        "xmlsec_binary": _xmlsec_binary(),
        "key_file": keys.key_file,
        "cert_file": keys.cert_file,
        # The SP key also decrypts EncryptedAssertion (the IdP encrypts to the SP metadata's certificate);
        # a key published for the next switch signs nothing yet but is already in the metadata, so an IdP
        # may encrypt to it: it decrypts too.
        "encryption_keypairs": [{"key_file": keys.key_file, "cert_file": keys.cert_file}]
        + [{"key_file": key_file, "cert_file": cert_file} for key_file, cert_file in keys.next_pairs],
        "additional_cert_files": [cert_file for _key_file, cert_file in keys.next_pairs] or None,
        "metadata": {"inline": [metadata_xml]},
        # Only keys from this connection's IdP metadata, never a certificate carried in the message's KeyInfo.
        "only_use_keys_in_metadata": True,
        "accepted_time_diff": settings.clock_skew,
        "allow_unknown_attributes": True,
        "delete_tmpfiles": True,
        "service": {
            "sp": {
                "endpoints": endpoints,
                "allow_unsolicited": settings.allow_idp_initiated,
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "signing_algorithm": ds.SIG_RSA_SHA256,
                "digest_algorithm": ds.DIGEST_SHA256,
                "want_response_signed": settings.want_response_signed,
                # Entra ID / AD FS sign the assertion, Google and some PingFederate setups the response:
                # one of the two signatures is required (checked again by SamlResponseProcessor).
                "want_assertions_signed": False,
                "want_assertions_or_response_signed": True,
                "name_id_format_allow_create": True,
            }
        },
    }


def _load(settings: SamlSettings) -> SPConfig:
    metadata_xml = _idp_metadata(settings)
    keys = _KeyFiles(settings.sp_private_key_pem, settings.sp_certificate_pem, settings.sp_next_key_pairs)
    config = SPConfig()
    try:
        config.load(_sp_config_dict(settings, keys, metadata_xml))
    except SamlConfigurationError:
        raise
    except Exception as exc:
        raise SamlConfigurationError(
            _(
                "The IdP metadata or the SP key of this connection could not be loaded. Re-import the IdP metadata "
                "(an XML EntityDescriptor) and check the certificates."
            ),
            detail=f"{type(exc).__name__}: {exc}",
        ) from exc
    config.cryptr_key_files = keys  # keeps the key files alive as long as the config
    idps = list(config.metadata.identity_providers())
    if len(idps) != 1:
        raise SamlConfigurationError(
            _(
                "The IdP metadata must describe exactly one identity provider (an EntityDescriptor with an "
                "IDPSSODescriptor). If it has expired (validUntil), download it again from the IdP."
            ),
            detail=f"{len(idps)} identity providers in the metadata",
        )
    if settings.idp_entity_id and idps[0] != settings.idp_entity_id:
        raise SamlConfigurationError(
            _("The IdP entity ID of the connection does not match the entity ID in its metadata."),
            detail=f"metadata entityID {idps[0]!r}",
        )
    if not config.metadata.certs(idps[0], "idpsso", "signing"):
        raise SamlConfigurationError(
            _("The IdP metadata has no signing certificate. Download the metadata again from the IdP."),
        )
    config.cryptr_idp_entity_id = idps[0]
    return config


_cache: OrderedDict[str, SPConfig] = OrderedDict()
_cache_lock = threading.Lock()


def build_sp_config(settings: SamlSettings) -> SPConfig:
    """The connection's SPConfig, from the in-process cache when the settings have not changed.

    The returned config also carries `cryptr_idp_entity_id`, the one IdP it trusts.
    """
    key = settings.fingerprint()
    with _cache_lock:
        config = _cache.get(key)
        if config is not None:
            _cache.move_to_end(key)
            return config
    config = _load(settings)
    with _cache_lock:
        _cache[key] = config
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return config


def clear_sp_config_cache() -> None:
    with _cache_lock:
        _cache.clear()
