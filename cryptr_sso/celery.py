import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptr_sso.settings")

app = Celery("cryptr_sso")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
