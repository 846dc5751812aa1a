"""Settings of the SSO gateway, read from the environment.

Embedded default (nothing set): SQLite in ./var, tasks run in-process, mail printed to the console,
a development secret key generated once into ./var. Production (`CRYPTR_ENV=production`): every
secret must come from the environment, and the process refuses to start without it.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from applications.oauth.keys import load_active_private_key, load_inactive_private_keys

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CRYPTR_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = os.environ.get("CRYPTR_ENV", "development") == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when CRYPTR_ENV=production.")
    # A development key, generated once per checkout so sessions survive restarts.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", BASE_URL)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "djangosaml2",
    "cryptr_sso",
    "organizations",
    "applications",
    "connections",
    "onboarding",
    "oauth2_provider",
    # The operators' own accounts (sign-in, password reset, MFA, their sessions): cryptr_sso/accounts/.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "django.contrib.humanize",  # allauth.usersessions' session list
    "cryptr_sso.accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # /t/<domain>/... : the organization's OAuth 2.0 / OIDC issuer (applications/oauth/tenancy.py).
    "applications.oauth.tenancy.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # djangosaml2's second session cookie (SameSite=None) carries the outstanding AuthnRequest ids
    # across the IdP's cross-site POST to the ACS.
    "connections.saml.middleware.SamlSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    # /admin/ opens only after the second factor; the admin's login form is not a way in.
    "cryptr_sso.accounts.middleware.OperatorMFAMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cryptr_sso.urls"
WSGI_APPLICATION = "cryptr_sso.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite when DATABASE_URL is unset, anything dj-database-url understands otherwise.
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=600)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "cryptr_sso.cache.SharedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "cryptr"),
        }
    }
else:
    # The embedded default keeps everything in the database so several processes still agree.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "cryptr_cache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Cookies: secure whenever the gateway is served over https.
_https = BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SESSION_COOKIE_HTTPONLY = True
# With Redis, sessions (the end user's sign-in, the SAML outstanding requests, operators') live there:
# a login writes its sessions several times, and PostgreSQL would take each write. Losing Redis signs
# people out, nothing more. Without Redis, the database keeps them.
SESSION_ENGINE = os.environ.get(
    "SESSION_ENGINE",
    "cryptr_sso.cache" if REDIS_URL else "django.contrib.sessions.backends.db",
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Mail: console in the embedded default, SMTP when EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "SSO Gateway <no-reply@localhost>")
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
    EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
else:
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# The IT admin's onboarding link (onboarding/): how long an invitation stays valid.
ONBOARDING_LINK_LIFETIME_DAYS = int(os.environ.get("ONBOARDING_LINK_LIFETIME_DAYS", "7"))
ONBOARDING_LINK_LIFETIME = timedelta(days=ONBOARDING_LINK_LIFETIME_DAYS)

# Operators (Django auth users with is_staff) sign in through django-allauth (cryptr_sso/accounts/):
# username or email + password, then TOTP, a passkey or a recovery code. No public sign-up.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/admin/"
ACCOUNT_ADAPTER = "cryptr_sso.accounts.adapter.OperatorAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
# "optional": operators never sign up; their address is typed by another operator or by whoever runs
# createsuperuser, not claimed by a stranger, and the second factor guards the account. "mandatory"
# would hold the first operator at a verification email before the console opens.
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False  # a reset link never signs in: the password, then the MFA step
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[SSO gateway] "
# Mail the operator when their password, email or second factors change.
ACCOUNT_EMAIL_NOTIFICATIONS = True
OPERATOR_MFA_REQUIRED = env_bool("OPERATOR_MFA_REQUIRED", default=True)
# Before an operator without a second factor enrols the first one, the sign-in proves control of the
# operator's email address with a one-time code (cryptr_sso/accounts/email_code.py): the password alone
# must not let its holder enrol their own authenticator.
OPERATOR_MFA_ENROLMENT_REQUIRES_EMAIL_CODE = env_bool("OPERATOR_MFA_ENROLMENT_REQUIRES_EMAIL_CODE", default=True)
OPERATOR_EMAIL_CODE_TIMEOUT = int(os.environ.get("OPERATOR_EMAIL_CODE_TIMEOUT", "600"))  # seconds a code works
OPERATOR_EMAIL_CODE_MAX_ATTEMPTS = 3  # wrong codes before the sign-in starts over
OPERATOR_EMAIL_CODE_MAX_RESENDS = 2  # new codes asked from the code page, per sign-in
# Failed passwords and failed MFA codes per account: this many within the timeout lock it out.
OPERATOR_LOGIN_ATTEMPTS_LIMIT = int(os.environ.get("OPERATOR_LOGIN_ATTEMPTS_LIMIT", "5"))
OPERATOR_LOGIN_ATTEMPTS_TIMEOUT = int(os.environ.get("OPERATOR_LOGIN_ATTEMPTS_TIMEOUT", "300"))
# Counted in the cache (Redis when REDIS_URL is set, shared by every process).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    # per key: the account for passwords, `mfa-auth-user-<id>` for codes (allauth.mfa counts both here)
    "login_failed": f"20/m/ip,{OPERATOR_LOGIN_ATTEMPTS_LIMIT}/{OPERATOR_LOGIN_ATTEMPTS_TIMEOUT}s/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "reauthenticate": "10/m/user",
    # email codes sent to operators without a second factor (sign-ins and resends), per IP and per account
    "operator_email_code": "10/m/ip,5/10m/key",
    "change_password": "5/m/user",
    "signup": "20/m/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = os.environ.get("MFA_TOTP_ISSUER", "SSO gateway")
MFA_PASSKEY_LOGIN_ENABLED = False  # a passkey is the second factor, after the password
MFA_TRUST_ENABLED = False  # no "trust this browser": every sign-in asks for the second factor
# Browsers allow WebAuthn on http://localhost; allauth refuses plain http unless told, in DEBUG only.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
USERSESSIONS_TRACK_ACTIVITY = env_bool("USERSESSIONS_TRACK_ACTIVITY", default=True)
# The client address that allauth's per-IP limits and session list use. Behind a load balancer, say how
# many proxies append to X-Forwarded-For (or which header holds the client address), or every operator
# shares the balancer's address and one attacker's failed logins lock out the sign-in form for all.
ALLAUTH_TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = os.environ.get("TRUSTED_CLIENT_IP_HEADER") or None

# Celery: Redis as broker when REDIS_URL is set; otherwise tasks run in-process.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True

# Periodic tasks, run by `celery -A cryptr_sso beat` (one beat process per deployment, beside the workers).
# A static schedule: no django-celery-beat tables; times in UTC.
CELERY_BEAT_SCHEDULE = {
    # IdP metadata of SAML connections configured by URL, fetched again (connections/tasks.py).
    "refresh-idp-metadata": {
        "task": "connections.tasks.refresh_idp_metadata",
        "schedule": crontab(minute=17, hour=3),
    },
    # Emails to operators and IT admins 60, 30 and 7 days before an IdP or SP certificate expires.
    "warn-expiring-certificates": {
        "task": "connections.tasks.warn_expiring_certificates",
        "schedule": crontab(minute=47, hour=3),
    },
    # Webhook deliveries whose retry message was lost (or that the embedded default never sent).
    "retry-due-webhook-deliveries": {
        "task": "organizations.webhooks.tasks.retry_due_webhook_deliveries",
        "schedule": timedelta(minutes=5),
    },
    # Finished webhook deliveries older than WEBHOOKS_DELIVERY_RETENTION_DAYS, deleted.
    "purge-old-webhook-deliveries": {
        "task": "organizations.webhooks.tasks.purge_old_webhook_deliveries",
        "schedule": crontab(minute=37, hour=4),
    },
}

# Webhooks (organizations/webhooks/): endpoint URLs on private addresses are refused unless this is set
# (tests, labs); plain http is accepted for loopback only, in DEBUG or with this set.
WEBHOOKS_ALLOW_PRIVATE_URLS = env_bool("WEBHOOKS_ALLOW_PRIVATE_URLS", default=False)
WEBHOOKS_TIMEOUT = float(os.environ.get("WEBHOOKS_TIMEOUT", "5"))
# Attempts in all, and the backoff: each wait is drawn between half and all of base x 2^n seconds, capped
# under the visibility timeout above (60 s, 2, 4, 8, 16, 32, 50 min): the 8th attempt comes 1 to 2 hours
# after the first.
WEBHOOKS_MAX_ATTEMPTS = int(os.environ.get("WEBHOOKS_MAX_ATTEMPTS", "8"))
WEBHOOKS_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_BASE_SECONDS", "60"))
WEBHOOKS_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOKS_RETRY_MAX_SECONDS", "3000"))
# Delivered or failed deliveries are kept this many days in the log (0 keeps them all).
WEBHOOKS_DELIVERY_RETENTION_DAYS = int(os.environ.get("WEBHOOKS_DELIVERY_RETENTION_DAYS", "30"))

# SAML service provider (djangosaml2 + pysaml2, one configuration per connection).
SAML_SESSION_COOKIE_NAME = "saml_session"
SAML_SESSION_COOKIE_SAMESITE = "None"
SAML_DEFAULT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAML_CLOCK_SKEW = int(os.environ.get("SAML_CLOCK_SKEW", "60"))
SAML_IGNORE_AUTHENTICATED_USERS_ON_LOGIN = False
SAML_CSP_HANDLER = ""
# IdP metadata fetched by URL: https to public addresses only, unless the operator allows private ones.
SAML_METADATA_ALLOW_PRIVATE_URLS = env_bool("SAML_METADATA_ALLOW_PRIVATE_URLS", default=False)
SAML_METADATA_FETCH_TIMEOUT = float(os.environ.get("SAML_METADATA_FETCH_TIMEOUT", "5"))
SAML_METADATA_CA_BUNDLE = os.environ.get("SAML_METADATA_CA_BUNDLE") or None

# OIDC relying party (connections/oidc/, one configuration per connection). Secrets stored in the
# database (client secrets) are encrypted with keys derived from FIELD_ENCRYPTION_KEY (comma-separated,
# first one encrypts), or from SECRET_KEY when unset.
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")
OIDC_CLOCK_SKEW = int(os.environ.get("OIDC_CLOCK_SKEW", "60"))
OIDC_HTTP_TIMEOUT = float(os.environ.get("OIDC_HTTP_TIMEOUT", "5"))
OIDC_JWKS_CACHE_SECONDS = int(os.environ.get("OIDC_JWKS_CACHE_SECONDS", "3600"))
# Discovery, JWKS, token and userinfo URLs on private addresses are refused unless this is set (tests, labs).
OIDC_DISCOVERY_ALLOW_PRIVATE_URLS = env_bool("OIDC_DISCOVERY_ALLOW_PRIVATE_URLS", default=False)

# The v2 management API.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["organizations.api_auth.ApiKeyTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["organizations.api_auth.HasApiScope"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "cryptr_sso.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {"api_token": os.environ.get("API_TOKEN_RATE", "60/min")},
    # How many proxies in front of the gateway append to X-Forwarded-For (rate limits count client IPs
    # from it only when this is set; unset, REMOTE_ADDR is used).
    "NUM_PROXIES": int(os.environ["TRUSTED_PROXY_COUNT"]) if os.environ.get("TRUSTED_PROXY_COUNT") else None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SSO Gateway management API",
    "DESCRIPTION": "Organizations, users, applications and SSO connections of the enterprise SSO gateway.",
    "VERSION": "2",
    "SCHEMA_PATH_PREFIX": "/api/v2",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
    },
    "SECURITY": [{"bearerAuth": []}],
}

API_ACCESS_TOKEN_LIFETIME = int(os.environ.get("API_ACCESS_TOKEN_LIFETIME", "3600"))
API_MAX_PER_PAGE = 100
API_DEFAULT_PER_PAGE = 10

# django-oauth-toolkit: the gateway's own OAuth 2.0 / OIDC provider (swapped models live in applications/).
OAUTH2_PROVIDER_APPLICATION_MODEL = "applications.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "applications.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "applications.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "applications.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "applications.Grant"
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "applications.oauth.validators.GatewayOAuth2Validator",
    "OAUTH2_BACKEND_CLASS": "applications.oauth.core.TenantOAuthLibCore",
    # Access tokens are RS256 JWTs; refresh tokens stay opaque random strings.
    "ACCESS_TOKEN_GENERATOR": "applications.oauth.tokens.access_token_generator",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    # Public clients must use PKCE; the validator (is_pkce_required) lets confidential clients,
    # which authenticate at the token endpoint, go without.
    "PKCE_REQUIRED": True,
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": load_active_private_key(VAR_DIR, production=PRODUCTION),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": load_inactive_private_keys(),
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": PRODUCTION,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "ID_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 30 * 24 * 3600,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # Plain-http redirect URIs only outside production (local development of the SaaS app).
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if PRODUCTION else ["http", "https"],
    "ALLOWED_SCHEMES": ["https"] if PRODUCTION else ["http", "https"],
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Your profile",
        "email": "Your email address",
        "offline_access": "Stay signed in",
    },
    "DEFAULT_SCOPES": ["openid"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"saml2": {"level": "WARNING"}, "xmlschema": {"level": "WARNING"}},
}
