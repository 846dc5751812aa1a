"""The gateway's operators (Django auth users with is_staff) and their sign-in through django-allauth:
the account adapter (no public sign-up, emails through Celery), the MFA gate in front of the Django
admin, and the email task."""
