"""Settings of the Celery worker processes the delivery tests start: the project's, with a short
Redis visibility timeout so that a task whose worker was killed is delivered again within seconds
(production keeps an hour, longer than any retry countdown)."""

from cryptr_sso.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4}
