"""The kinds of application the API accepts, and whether each is a public or a confidential OAuth client.

Code running in a browser or on a device cannot keep a secret: it is a public client and must use
PKCE (RFC 7636; RFC 9700 2.1.1). Code running on a server gets a client secret (confidential client).
"""

PUBLIC = "public"
CONFIDENTIAL = "confidential"

APPLICATION_TYPES: dict[str, tuple[str, str]] = {
    # browser single-page apps
    "spa": ("Single-page application", PUBLIC),
    "react": ("React", PUBLIC),
    "vue": ("Vue.js", PUBLIC),
    "angular": ("Angular", PUBLIC),
    "svelte": ("Svelte", PUBLIC),
    # devices
    "mobile": ("Mobile application", PUBLIC),
    "native": ("Native or desktop application", PUBLIC),
    "ios": ("iOS", PUBLIC),
    "android": ("Android", PUBLIC),
    "react_native": ("React Native", PUBLIC),
    "flutter": ("Flutter", PUBLIC),
    # server-side web apps
    "regular_web": ("Regular web application", CONFIDENTIAL),
    "node": ("Node.js", CONFIDENTIAL),
    "nextjs": ("Next.js (server)", CONFIDENTIAL),
    "python_flask": ("Python / Flask", CONFIDENTIAL),
    "python_django": ("Python / Django", CONFIDENTIAL),
    "python_fastapi": ("Python / FastAPI", CONFIDENTIAL),
    "ruby_on_rails": ("Ruby on Rails", CONFIDENTIAL),
    "php": ("PHP", CONFIDENTIAL),
    "java_spring": ("Java / Spring", CONFIDENTIAL),
    "dotnet": (".NET", CONFIDENTIAL),
    "go": ("Go", CONFIDENTIAL),
    "elixir_phoenix": ("Elixir / Phoenix", CONFIDENTIAL),
}

APPLICATION_TYPE_CHOICES = tuple((key, label) for key, (label, _client_type) in APPLICATION_TYPES.items())


def client_type_of(application_type: str) -> str:
    return APPLICATION_TYPES[application_type][1]
