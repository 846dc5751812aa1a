"""/sso/start/<idp_id>: where every SSO login leaves the gateway, sent on to the connection's protocol."""

from django.views import View

from .providers import OIDC
from .selectors import connection_get_for_login


class SsoStartView(View):
    def dispatch(self, request, *args, idp_id, **kwargs):
        from .oidc.views import OidcLoginView
        from .saml.views import SamlLoginView

        connection = connection_get_for_login(idp_id=idp_id, request=request, hand_over=True)
        # Unknown and inactive connections get their error page from either view (connection_for_sign_in).
        view = OidcLoginView if connection is not None and connection.protocol == OIDC else SamlLoginView
        return view.as_view()(request, idp_id=idp_id)
