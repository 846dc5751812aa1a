"""pysaml2's XML Schema check of signed SAML elements, done by libxml2 instead of `xmlschema`.

Before it verifies a signature, pysaml2 re-serializes the signed Response or Assertion and validates it
against the SAML 2.0 schemas (`saml2.sigver.validate_doc_with_schema`, i.e. `saml2.xml.schema.validate`),
with the pure-Python `xmlschema` package: about 3 ms per element, close to half of the ACS's CPU.
`install()` replaces that one function, for the whole process, by `validate()` below: the same XSD files
pysaml2 ships (`saml2/data/schemas`, the same twelve namespaces pysaml2's validator loads, the protocol
schema first), compiled once by libxml2 (`lxml.etree.XMLSchema`), ~0.05 ms per element.

It fails closed like pysaml2's: a document that does not parse, does not validate, or anything that
goes wrong (including a schema that cannot be built) raises `saml2.xml.schema.XMLSchemaError`, which
pysaml2 turns into the same `SignatureError("... Invalid document format ...")` and the gateway into the
same refusal (`MalformedXml`, "does not follow the SAML 2.0 schema").

No network and no DTD: the schemas' imports of W3C URLs (xmldsig, xmlenc, xml.xsd, SOAP envelope) are
answered with the local copies, anything else outside pysaml2's schema directory is refused, and the
documents validated are parsed without DTD loading, entity expansion or network access.
"""

from __future__ import annotations

import os
import threading
from importlib.resources import files

import saml2.data.schemas
import saml2.sigver
from lxml import etree
from saml2.xml.schema import XMLSchemaError

SCHEMA_DIR = os.path.realpath(str(files(saml2.data.schemas)))

# The namespaces (and files) pysaml2's own validator loads (saml2/xml/schema/__init__.py), protocol first.
_NAMESPACES = {
    "urn:oasis:names:tc:SAML:2.0:protocol": "saml-schema-protocol-2.0.xsd",
    "urn:oasis:names:tc:SAML:2.0:assertion": "saml-schema-assertion-2.0.xsd",
    "urn:oasis:names:tc:SAML:2.0:metadata": "saml-schema-metadata-2.0.xsd",
    "http://www.w3.org/XML/1998/namespace": "xml.xsd",
    "http://schemas.xmlsoap.org/soap/envelope/": "envelope.xsd",
    "http://www.w3.org/2001/04/xmlenc#": "xenc-schema.xsd",
    "http://www.w3.org/2009/xmlenc11#": "xenc-schema-11.xsd",
    "http://www.w3.org/2000/09/xmldsig#": "xmldsig-core-schema.xsd",
    "http://eidas.europa.eu/metadata/servicelist": "eidas-schema-metadata-servicelist.xsd",
    "http://eidas.europa.eu/saml-extensions": "eidas-schema-saml-extensions.xsd",
    "http://eidas.europa.eu/attributes/naturalperson": "eidas-schema-attribute-naturalperson.xsd",
    "http://eidas.europa.eu/attributes/legalperson": "eidas-schema-attribute-legalperson.xsd",
}

# The remote schemaLocations written in pysaml2's XSD files, and their local copies.
_REMOTE_LOCATIONS = {
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": "xmldsig-core-schema.xsd",
    "http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd": "xenc-schema.xsd",
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
    "http://www.w3.org/2009/01/xml.xsd": "xml.xsd",
    "http://schemas.xmlsoap.org/soap/envelope/": "envelope.xsd",
}


class _LocalSchemas(etree.Resolver):
    """Answers schema imports with pysaml2's local XSD files; refuses everything else."""

    def resolve(self, system_url, public_id, context):
        name = _REMOTE_LOCATIONS.get(system_url)
        if name is not None:
            return self.resolve_filename(os.path.join(SCHEMA_DIR, name), context)
        path = system_url[len("file://") :] if system_url.startswith("file://") else system_url
        path = os.path.realpath(path)
        if os.path.dirname(path) == SCHEMA_DIR and path.endswith(".xsd") and os.path.isfile(path):
            return self.resolve_filename(path, context)
        raise XMLSchemaError(f"schema resource outside pysaml2's schemas refused: {system_url!r}")


def _schema_parser() -> etree.XMLParser:
    # The XSD files declare internal entities (&dsig;) but need no external DTD.
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=True, huge_tree=False)
    parser.resolvers.add(_LocalSchemas())
    return parser


def _document_parser() -> etree.XMLParser:
    # One per call: lxml parser objects are not to be shared by threads.
    return etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False, huge_tree=False)


def build_schema() -> etree.XMLSchema:
    """The SAML 2.0 schema set, compiled by libxml2 from pysaml2's files (a wrapper importing each namespace)."""
    imports = "".join(
        f'<xs:import namespace="{namespace}" schemaLocation="{os.path.join(SCHEMA_DIR, name)}"/>'
        for namespace, name in _NAMESPACES.items()
    )
    wrapper = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    document = etree.fromstring(wrapper.encode(), _schema_parser(), base_url=os.path.join(SCHEMA_DIR, "wrapper.xsd"))
    return etree.XMLSchema(document)


_lock = threading.Lock()
_schema: etree.XMLSchema | None = None


def _get_schema() -> etree.XMLSchema:
    global _schema
    if _schema is None:
        _schema = build_schema()
    return _schema


def validate(doc, validator=None) -> None:
    """Drop-in for `saml2.xml.schema.validate(doc)`: raises `XMLSchemaError` unless `doc` (the XML text
    of one element) is valid against the SAML 2.0 schemas. `validator` is accepted for the signature's
    sake and ignored: pysaml2 never passes one."""
    try:
        data = doc.encode("utf-8") if isinstance(doc, str) else doc
        root = etree.fromstring(data, _document_parser())
        tree = root.getroottree()
        if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
            raise XMLSchemaError({"error": "DTD in a signed element"})
    except XMLSchemaError:
        raise
    except Exception as exc:
        raise XMLSchemaError({"error": f"{type(exc).__name__}: {exc}"}) from exc
    validate_element(root)


def validate_element(element: etree._Element) -> None:
    """Raises `XMLSchemaError` unless `element` (an lxml element, the root of its document or not) and its
    subtree are valid against the SAML 2.0 schemas."""
    try:
        with _lock:  # one validation at a time: the schema's error log is shared (libxml2 runs without the GIL)
            schema = _get_schema()
            valid = schema.validate(element)
            error = str(schema.error_log.last_error) if not valid else ""
    except Exception as exc:
        raise XMLSchemaError({"error": f"{type(exc).__name__}: {exc}"}) from exc
    if not valid:
        raise XMLSchemaError({"error": error})


def install() -> None:
    """Make pysaml2's signature check validate with `validate()` (idempotent)."""
    saml2.sigver.validate_doc_with_schema = validate


def installed() -> bool:
    return saml2.sigver.validate_doc_with_schema is validate
