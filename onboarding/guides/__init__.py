"""The "create the application in your IdP" guide of each provider, as data the wizard renders.

Each instruction is a sentence (translated) plus, verbatim and untranslated, what the IT admin sees in
their IdP's console: the menu path to click through, and a table "in this field of your IdP, paste this
value of ours". The console's words are kept in English because that is what the consoles show to
most admins; the sentence around them is in the admin's language.

Our values are named by key: entity_id, acs_url, slo_url, metadata_url, certificate, metadata_xml, and
for OpenID Connect redirect_uri and post_logout_redirect_uri (where the IdP sends people back after it
signed them out; Google has no sign-out for other applications, so its guide does not ask for it).
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

OUR_VALUES = (
    "entity_id",
    "acs_url",
    "slo_url",
    "metadata_url",
    "certificate",
    "metadata_xml",
    "redirect_uri",
    "post_logout_redirect_uri",
)


@dataclass(frozen=True)
class Instruction:
    text: object  # lazy translated sentence
    path: tuple[str, ...] = ()  # the console's menu path, in its own words
    paste: tuple[tuple[str, str], ...] = ()  # (the IdP's field label, our value key)
    settings: tuple[tuple[str, str], ...] = ()  # (the IdP's field label, the value to choose)
    attributes: tuple[tuple[str, str], ...] = ()  # (attribute name to send, the IdP's source for it)
    # OpenID Connect: (what the IdP shows, our field it goes into at step 3): the client id and secret.
    copy_back: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Guide:
    provider: str
    console: str  # the product's name for its admin console
    instructions: tuple[Instruction, ...]
    # Step 3: where the IdP shows its own metadata.
    metadata_where: object = ""
    metadata_url_example: str = ""
    notes: tuple[object, ...] = field(default_factory=tuple)
    # OpenID Connect, step 3: where the IdP shows its issuer, and what it looks like.
    issuer_where: object = ""
    issuer_example: str = ""


_MS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"

GUIDES: dict[str, Guide] = {
    "azure_ad": Guide(
        provider="azure_ad",
        console="Microsoft Entra admin center",
        instructions=(
            Instruction(
                _(
                    "Sign in to the Microsoft Entra admin center (entra.microsoft.com) as at least a "
                    "Cloud Application Administrator, and open:"
                ),
                path=("Identity", "Applications", "Enterprise applications", "New application"),
            ),
            Instruction(
                _(
                    "Select “Create your own application”, type the application's name, keep "
                    "“Integrate any other application you don't find in the gallery (Non-gallery)” and "
                    "select Create."
                )
            ),
            Instruction(
                _("In the new application, open single sign-on and choose SAML:"),
                path=("Manage", "Single sign-on", "SAML"),
            ),
            Instruction(
                _(
                    "In box 1, “Basic SAML Configuration”, select Edit and paste our values, then Save. "
                    "(You can instead select “Upload metadata file” with our Metadata XML.)"
                ),
                paste=(
                    ("Identifier (Entity ID)", "entity_id"),
                    ("Reply URL (Assertion Consumer Service URL)", "acs_url"),
                    ("Logout Url (Optional)", "slo_url"),
                ),
            ),
            Instruction(
                _("In box 2, “Attributes & Claims”, keep Entra's default claims: they are the ones we read."),
                attributes=(
                    (f"{_MS}emailaddress", "user.mail"),
                    (f"{_MS}givenname", "user.givenname"),
                    (f"{_MS}surname", "user.surname"),
                ),
            ),
            Instruction(
                _(
                    "In box 3, “SAML Certificates”, check that the signing option is “Sign SAML assertion” "
                    "and the signing algorithm SHA-256, and copy the “App Federation Metadata Url” for "
                    "the next step."
                ),
                settings=(("Signing Option", "Sign SAML assertion"), ("Signing Algorithm", "SHA-256")),
            ),
            Instruction(
                _("Assign the people who will sign in, including yourself for the test login:"),
                path=("Manage", "Users and groups", "Add user/group"),
            ),
        ),
        metadata_where=_(
            "In the application's Single sign-on page, box 3 “SAML Certificates”: copy the "
            "“App Federation Metadata Url”, or download the “Federation Metadata XML”."
        ),
        metadata_url_example="https://login.microsoftonline.com/<tenant-id>/federationmetadata/2007-06/"
        "federationmetadata.xml?appid=<app-id>",
    ),
    "adfs": Guide(
        provider="adfs",
        console="AD FS Management",
        instructions=(
            Instruction(
                _("On your AD FS server, open AD FS Management (Server Manager > Tools) and start the wizard:"),
                path=("AD FS", "Relying Party Trusts", "Add Relying Party Trust…"),
            ),
            Instruction(
                _(
                    "Choose “Claims aware” and Start. On “Select Data Source”, choose “Import data about "
                    "the relying party published online or on a local network” and paste our Metadata "
                    "URL. If your server cannot reach it, download our Metadata XML and choose “Import "
                    "data about the relying party from a file”."
                ),
                paste=(("Federation metadata address (host name or URL)", "metadata_url"),),
            ),
            Instruction(
                _(
                    "Give it a display name, choose an access control policy (for example “Permit "
                    "everyone”, or a group), and finish."
                )
            ),
            Instruction(
                _(
                    "Select the new trust, then “Edit Claim Issuance Policy…” > Add Rule > “Send LDAP "
                    "Attributes as Claims”, attribute store Active Directory, with these three lines:"
                ),
                attributes=(
                    ("E-Mail Address", "E-Mail-Addresses"),
                    ("Given Name", "Given-Name"),
                    ("Surname", "Surname"),
                ),
            ),
            Instruction(
                _(
                    "Add a second rule, “Transform an Incoming Claim”: incoming claim type E-Mail "
                    "Address, outgoing claim type Name ID, outgoing name ID format Email."
                )
            ),
            Instruction(
                _("In the trust's Properties > Advanced, choose SHA-256:"),
                settings=(("Secure hash algorithm", "SHA-256"),),
            ),
        ),
        metadata_where=_(
            "AD FS publishes its metadata at /FederationMetadata/2007-06/FederationMetadata.xml on "
            "your AD FS host name. If that address is only reachable inside your network, open it "
            "in your browser, save the file, and upload it here."
        ),
        metadata_url_example="https://adfs.example.com/FederationMetadata/2007-06/FederationMetadata.xml",
    ),
    "google": Guide(
        provider="google",
        console="Google Admin console",
        instructions=(
            Instruction(
                _(
                    "Sign in to the Google Admin console (admin.google.com) with a super administrator "
                    "account and open:"
                ),
                path=("Apps", "Web and mobile apps", "Add app", "Add custom SAML app"),
            ),
            Instruction(_("Type the application's name and select Continue.")),
            Instruction(
                _(
                    "On “Google Identity Provider details”, select “DOWNLOAD METADATA” and keep the file "
                    "for the next step of this guide. Select Continue."
                )
            ),
            Instruction(
                _("On “Service provider details”, paste our values and choose the name ID, then Continue:"),
                paste=(("ACS URL", "acs_url"), ("Entity ID", "entity_id")),
                settings=(("Name ID format", "EMAIL"), ("Name ID", "Basic Information > Primary email")),
            ),
            Instruction(
                _("On “Attribute mapping”, add these three mappings and select Finish:"),
                attributes=(
                    ("email", "Basic Information > Primary email"),
                    ("firstName", "Basic Information > First name"),
                    ("lastName", "Basic Information > Last name"),
                ),
            ),
            Instruction(
                _(
                    "Open the app's “User access”, turn it ON for everyone or for your organizational "
                    "units or groups, and Save. Google can take a few minutes to apply it."
                )
            ),
        ),
        metadata_where=_(
            "Google shows its metadata only as a download (“DOWNLOAD METADATA” on the app's page): "
            "upload that file here."
        ),
        notes=(
            _(
                "Google Workspace does not support single logout: signing out of the application does not "
                "sign you out of Google."
            ),
        ),
    ),
    "okta": Guide(
        provider="okta",
        console="Okta Admin Console",
        instructions=(
            Instruction(
                _("In the Okta Admin Console, open:"), path=("Applications", "Applications", "Create App Integration")
            ),
            Instruction(_("Choose “SAML 2.0” and Next. Type the application's name (App name) and Next.")),
            Instruction(
                _("On “Configure SAML”, paste our values and choose the name ID:"),
                paste=(("Single sign-on URL", "acs_url"), ("Audience URI (SP Entity ID)", "entity_id")),
                settings=(
                    ("Use this for Recipient URL and Destination URL", "checked"),
                    ("Name ID format", "EmailAddress"),
                    ("Application username", "Email"),
                ),
            ),
            Instruction(
                _("Under “Attribute Statements”, add these three statements:"),
                attributes=(("email", "user.email"), ("firstName", "user.firstName"), ("lastName", "user.lastName")),
            ),
            Instruction(
                _(
                    "Optional, for single logout: select “Show Advanced Settings”, check “Allow "
                    "application to initiate Single Logout”, paste these values and upload our certificate "
                    "as a file (use its Download link)."
                ),
                paste=(
                    ("Single Logout URL", "slo_url"),
                    ("SP Issuer", "entity_id"),
                    ("Signature Certificate", "certificate"),
                ),
            ),
            Instruction(_("Select Next, answer the feedback question, and Finish.")),
            Instruction(
                _(
                    "On the application's Assignments tab, assign the people or groups who will sign in, "
                    "including yourself for the test login:"
                ),
                path=("Assignments", "Assign", "Assign to People"),
            ),
        ),
        metadata_where=_("On the application's “Sign On” tab, under SAML 2.0, copy the “Metadata URL”."),
        metadata_url_example="https://<your-org>.okta.com/app/<app-id>/sso/saml/metadata",
    ),
    "ping_federate": Guide(
        provider="ping_federate",
        console="PingFederate administrative console",
        instructions=(
            Instruction(
                _("In the PingFederate administrative console, open:"),
                path=("Applications", "Integration", "SP Connections", "Create Connection"),
            ),
            Instruction(
                _(
                    "Choose “Do not use a template”, then connection type “Browser SSO Profiles” with "
                    "protocol SAML 2.0, and connection option “Browser SSO”."
                )
            ),
            Instruction(
                _(
                    "On “Import Metadata”, choose URL and paste our Metadata URL (or File, with our "
                    "Metadata XML). Without import, type our entity ID on “General Info”:"
                ),
                paste=(("Metadata URL", "metadata_url"), ("Partner's Entity ID (Connection ID)", "entity_id")),
            ),
            Instruction(
                _(
                    "In “Browser SSO”, enable the SAML profiles “SP-Initiated SSO” and “SP-Initiated SLO”; "
                    "in “Assertion Creation”, extend the attribute contract with these attributes and map "
                    "them from your user store:"
                ),
                attributes=(("email", "mail"), ("firstname", "givenName"), ("lastname", "sn")),
            ),
            Instruction(
                _("In “Protocol Settings”, check our endpoint and the signature policy:"),
                paste=(("Assertion Consumer Service URL (POST)", "acs_url"), ("SLO Service URL", "slo_url")),
                settings=(("Signature Policy", "Always sign assertion"),),
            ),
            Instruction(
                _(
                    "In “Credentials”, choose your signing certificate with RSA SHA256, then set the "
                    "connection status to Active and Save."
                ),
                settings=(("Signing Algorithm", "RSA SHA256"),),
            ),
        ),
        metadata_where=_(
            "Export it from System > Protocol Metadata > Metadata Export, or use the URL "
            "/pf/federation_metadata.ping?PartnerSpId=<our entity ID> on your PingFederate "
            "runtime host."
        ),
        metadata_url_example="https://sso.example.com:9031/pf/federation_metadata.ping?PartnerSpId=…",
    ),
    "ping_one": Guide(
        provider="ping_one",
        console="PingOne admin console",
        instructions=(
            Instruction(
                _("In the PingOne admin console of your environment, open Applications and select the + button:"),
                path=("Connections", "Applications", "+"),
            ),
            Instruction(
                _("Type the application's name, choose the application type “SAML Application” and select Configure.")
            ),
            Instruction(
                _(
                    "Under “SAML Configuration”, choose “Import from URL” with our Metadata URL, or "
                    "“Manually Enter” with these values, and Save:"
                ),
                paste=(
                    ("Import from URL", "metadata_url"),
                    ("ACS URLs", "acs_url"),
                    ("Entity ID", "entity_id"),
                    ("SLO endpoint", "slo_url"),
                ),
            ),
            Instruction(
                _("On the “Attribute Mappings” tab, keep saml_subject as Email Address and add:"),
                attributes=(("email", "Email Address"), ("given_name", "Given Name"), ("family_name", "Family Name")),
            ),
            Instruction(
                _(
                    "On the “Access” tab, choose the groups allowed to sign in, then turn the application "
                    "on with the toggle at the top right."
                )
            ),
        ),
        metadata_where=_(
            "On the application's “Configuration” tab, copy the “IDP Metadata URL” (or select “Download Metadata”)."
        ),
        metadata_url_example="https://auth.pingone.eu/<environment-id>/saml20/metadata/<application-id>",
    ),
    "generic_saml": Guide(
        provider="generic_saml",
        console="",
        instructions=(
            Instruction(
                _(
                    "In your identity provider's administration console, create a new SAML 2.0 "
                    "application (sometimes called a service provider, relying party or SP connection). "
                    "If it can import service-provider metadata, give it our Metadata URL or Metadata XML "
                    "and skip the next instruction."
                ),
                paste=(("Metadata URL", "metadata_url"),),
            ),
            Instruction(
                _("Otherwise, paste our values by hand:"),
                paste=(
                    ("Entity ID / Audience / Identifier", "entity_id"),
                    ("Assertion Consumer Service (ACS) URL / Reply URL, binding HTTP-POST", "acs_url"),
                    ("Single Logout URL (optional)", "slo_url"),
                ),
            ),
            Instruction(
                _(
                    "Sign the assertion (or the response) with RSA-SHA256, send the email address as "
                    "the NameID (format emailAddress), and send these attributes:"
                ),
                attributes=(
                    ("email", _("the user's email address")),
                    ("firstName", _("the given name")),
                    ("lastName", _("the family name")),
                ),
            ),
            Instruction(
                _(
                    "Give access to the application to the people who will sign in, including yourself "
                    "for the test login."
                )
            ),
        ),
        metadata_where=_(
            "Look for “IdP metadata”, “federation metadata” or “SAML metadata” in the "
            "application's settings: a URL, or an XML file to download."
        ),
    ),
}


_CLIENT_ID = _("Client ID (step 3)")
_CLIENT_SECRET = _("Client secret (step 3)")
_ISSUER = _("Issuer (step 3)")

OIDC_GUIDES: dict[str, Guide] = {
    "google_oidc": Guide(
        provider="google_oidc",
        console="Google Cloud console",
        instructions=(
            Instruction(
                _(
                    "Sign in to the Google Cloud console (console.cloud.google.com) with an account of your "
                    "Google Workspace, choose or create a project, and open:"
                ),
                path=("APIs & Services", "Credentials", "Create credentials", "OAuth client ID"),
            ),
            Instruction(
                _(
                    "If Google asks you to configure the consent screen first, choose the user type "
                    "“Internal” (only your organization's accounts), type the application's name and save."
                )
            ),
            Instruction(
                _(
                    "Choose the application type “Web application”, type a name, and under “Authorized "
                    "redirect URIs” select “+ Add URI” and paste our redirect URI. Select Create."
                ),
                settings=(("Application type", "Web application"),),
                paste=(("Authorized redirect URIs", "redirect_uri"),),
            ),
            Instruction(
                _(
                    "Google shows the new client: copy its client ID and client secret for step 3 (you can "
                    "find them again in Credentials > OAuth 2.0 Client IDs)."
                ),
                copy_back=(("Client ID", _CLIENT_ID), ("Client secret", _CLIENT_SECRET)),
            ),
        ),
        issuer_where=_("Google's issuer is always https://accounts.google.com: it is filled in for you."),
        issuer_example="https://accounts.google.com",
        notes=(
            _(
                "Only accounts of your Google Workspace domains can sign in: give them at step 3 (by default, "
                "the email domains of your organization)."
            ),
        ),
    ),
    "entra_id_oidc": Guide(
        provider="entra_id_oidc",
        console="Microsoft Entra admin center",
        instructions=(
            Instruction(
                _(
                    "Sign in to the Microsoft Entra admin center (entra.microsoft.com) as at least a "
                    "Cloud Application Administrator, and open:"
                ),
                path=("Identity", "Applications", "App registrations", "New registration"),
            ),
            Instruction(
                _(
                    "Type the application's name, keep “Accounts in this organizational directory only”, "
                    "and under “Redirect URI” choose the platform Web and paste our redirect URI. Select "
                    "Register."
                ),
                settings=(
                    ("Supported account types", "Accounts in this organizational directory only"),
                    ("Redirect URI: Select a platform", "Web"),
                ),
                paste=(("Redirect URI (Web)", "redirect_uri"),),
            ),
            Instruction(
                _(
                    "Then add our sign-out redirect URI as a second Web redirect URI: Entra sends people back "
                    "to it after they sign out, and only to a registered redirect URI."
                ),
                path=("Manage", "Authentication", "Web", "Add URI"),
                paste=(("Redirect URIs (Web)", "post_logout_redirect_uri"),),
            ),
            Instruction(
                _(
                    "On the application's Overview, copy the Application (client) ID and the Directory "
                    "(tenant) ID for step 3:"
                ),
                path=("Overview",),
                copy_back=(
                    ("Application (client) ID", _CLIENT_ID),
                    ("Directory (tenant) ID", _("Directory (tenant) ID (step 3)")),
                ),
            ),
            Instruction(
                _(
                    "Create a client secret and copy its Value (not its Secret ID) right away: Entra shows it "
                    "only once. Note its expiry date: sign-ins stop when it expires."
                ),
                path=("Manage", "Certificates & secrets", "Client secrets", "New client secret"),
                copy_back=(("Value", _CLIENT_SECRET),),
            ),
            Instruction(
                _(
                    "Optional, if your users' email is not their sign-in name: add the optional claim "
                    "email to the ID token:"
                ),
                path=("Manage", "Token configuration", "Add optional claim", "ID", "email"),
            ),
        ),
        issuer_where=_(
            "Give your Directory (tenant) ID: we make the issuer from it "
            "(https://login.microsoftonline.com/<tenant-id>/v2.0)."
        ),
        issuer_example="https://login.microsoftonline.com/<tenant-id>/v2.0",
    ),
    "okta_oidc": Guide(
        provider="okta_oidc",
        console="Okta Admin Console",
        instructions=(
            Instruction(
                _("In the Okta Admin Console, open:"), path=("Applications", "Applications", "Create App Integration")
            ),
            Instruction(
                _(
                    "Choose the sign-in method “OIDC - OpenID Connect” and the application type “Web "
                    "Application”, then Next."
                ),
                settings=(("Sign-in method", "OIDC - OpenID Connect"), ("Application type", "Web Application")),
            ),
            Instruction(
                _(
                    "Type the application's name (App integration name), keep the grant type "
                    "“Authorization Code”, replace the “Sign-in redirect URIs” with our redirect URI, "
                    "choose who may sign in under Assignments, and Save."
                ),
                settings=(("Grant type", "Authorization Code"),),
                paste=(
                    ("Sign-in redirect URIs", "redirect_uri"),
                    ("Sign-out redirect URIs", "post_logout_redirect_uri"),
                ),
            ),
            Instruction(
                _(
                    "On the application's General tab, under “Client Credentials”, copy the Client ID and "
                    "the Client secret for step 3:"
                ),
                path=("General", "Client Credentials"),
                copy_back=(("Client ID", _CLIENT_ID), ("Client secret", _CLIENT_SECRET)),
            ),
            Instruction(
                _(
                    "On the Assignments tab, assign the people or groups who will sign in, including "
                    "yourself for the test login:"
                ),
                path=("Assignments", "Assign", "Assign to People"),
            ),
        ),
        issuer_where=_(
            "Your Okta organization's address is the issuer (Security > API shows it for each "
            "authorization server; without a custom one, it is your Okta domain)."
        ),
        issuer_example="https://<your-org>.okta.com",
    ),
    "ping_one_oidc": Guide(
        provider="ping_one_oidc",
        console="PingOne admin console",
        instructions=(
            Instruction(
                _("In the PingOne admin console of your environment, open Applications and select the + button:"),
                path=("Applications", "Applications", "+"),
            ),
            Instruction(
                _("Type the application's name, choose the application type “OIDC Web App” and select Save."),
                settings=(("Application Type", "OIDC Web App"),),
            ),
            Instruction(
                _(
                    "On the Configuration tab, select the pencil icon, paste our redirect URI under "
                    "“Redirect URIs” and Save:"
                ),
                path=("Configuration", "Redirect URIs"),
                paste=(("Redirect URIs", "redirect_uri"), ("Signoff URLs", "post_logout_redirect_uri")),
            ),
            Instruction(
                _(
                    "On the same Configuration tab, copy the Client ID and the Client Secret (select the eye "
                    "icon to show it) for step 3, and the Issuer:"
                ),
                copy_back=(("Client ID", _CLIENT_ID), ("Client Secret", _CLIENT_SECRET), ("Issuer", _ISSUER)),
            ),
            Instruction(
                _(
                    "On the Access tab, choose the groups allowed to sign in, then turn the application on "
                    "with the toggle at the top right."
                )
            ),
        ),
        issuer_where=_("On the application's Configuration tab: the “Issuer” shown under URLs."),
        issuer_example="https://auth.pingone.eu/<environment-id>/as",
    ),
    "generic_oidc": Guide(
        provider="generic_oidc",
        console="",
        instructions=(
            Instruction(
                _(
                    "In your identity provider's administration console, create a new OpenID Connect "
                    "application of the type “web application” (confidential client, authorization code "
                    "flow), and register our redirect URI:"
                ),
                paste=(
                    ("Redirect URI / Callback URL", "redirect_uri"),
                    ("Post-logout redirect URI (if there is one)", "post_logout_redirect_uri"),
                ),
            ),
            Instruction(
                _("Copy the client ID and the client secret it gives the application for step 3, and its issuer:"),
                copy_back=(("Client ID", _CLIENT_ID), ("Client secret", _CLIENT_SECRET), ("Issuer", _ISSUER)),
            ),
            Instruction(
                _(
                    "Give access to the application to the people who will sign in, including yourself "
                    "for the test login."
                )
            ),
        ),
        issuer_where=_(
            "The issuer is the address before /.well-known/openid-configuration in your identity "
            "provider's discovery URL."
        ),
        issuer_example="https://idp.example.com",
    ),
}
GUIDES.update(OIDC_GUIDES)


def guide_for(provider_type: str | None) -> Guide:
    from connections.providers import OIDC, provider_get

    fallback = "generic_oidc" if provider_get(provider_type or "").protocol == OIDC else "generic_saml"
    return GUIDES.get(provider_type or "", GUIDES[fallback])
