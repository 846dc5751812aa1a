"""SAML 2.0 service-provider side of SSO connections: IdP metadata, SP keys, response checks."""
