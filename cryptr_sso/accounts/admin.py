"""The admin pages of the operators' groups, email addresses, sessions and second factors (django.contrib.auth
and allauth register them; this app comes after them in INSTALLED_APPS): every change in the audit trail.

Second factors are shown, not edited: removing an operator's authenticator here would neither end their
signed-in sessions nor be explained to them. "Reset second factors" on the operator (Users) does both.
"""

from allauth.account.models import EmailAddress
from allauth.mfa.admin import AuthenticatorAdmin
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib import admin
from django.contrib.auth.models import Group

from cryptr_sso.admin_audit import ViewOnlyAdminMixin, register_audited


class ReadOnlyAuthenticatorAdmin(ViewOnlyAdminMixin, AuthenticatorAdmin):
    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "title": 'Second factors (to remove an operator\'s: Users, action "Reset second factors")',
        }
        return super().changelist_view(request, extra_context)


for _model in (Group, EmailAddress, UserSession):
    register_audited(_model)

if admin.site.is_registered(Authenticator):
    admin.site.unregister(Authenticator)
register_audited(Authenticator, ReadOnlyAuthenticatorAdmin)
