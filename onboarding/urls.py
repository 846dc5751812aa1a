"""The IT admin's onboarding wizard, mounted at /onboarding/ (the link in the invitation email)."""

from django.urls import path

from . import views

urlpatterns = [
    path("<str:token>/", views.start, name="onboarding-start"),
    path("<str:token>/test-result", views.test_result, name="onboarding-test-result"),
    path("<str:token>/done", views.done, name="onboarding-done"),
    path("<str:token>/sp-certificate.pem", views.sp_certificate, name="onboarding-sp-certificate"),
    path("<str:token>/<slug:slug>", views.step_view, name="onboarding-step"),
]
