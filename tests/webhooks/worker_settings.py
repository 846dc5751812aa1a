"""Settings of the Celery worker processes the webhook tests start: the project's, with loopback receivers
allowed and a retry schedule in seconds instead of minutes (the policy is the same)."""

from cryptr_sso.settings import *  # noqa: F403

WEBHOOKS_ALLOW_PRIVATE_URLS = True
WEBHOOKS_RETRY_BASE_SECONDS = 1
WEBHOOKS_RETRY_MAX_SECONDS = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 30}
