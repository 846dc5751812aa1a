"""The operators' pages that allauth does not have (included before allauth.urls under /accounts/)."""

from django.urls import path

from .email_code import email_code

urlpatterns = [
    path("operator/email-code/", email_code, name="operator_email_code"),
]
