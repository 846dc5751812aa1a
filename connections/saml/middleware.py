from django.conf import settings
from djangosaml2.middleware import SamlSessionMiddleware as BaseSamlSessionMiddleware

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


class SamlSessionMiddleware(BaseSamlSessionMiddleware):
    """djangosaml2's cookie with the `Secure` flag it needs: browsers drop a `SameSite=None` cookie
    without it, and every ACS POST would then look unsolicited. Over https it is always set; on a
    loopback host over plain http too, since browsers count loopback as a secure context."""

    def process_response(self, request, response):
        response = super().process_response(request, response)
        cookie = response.cookies.get(self.cookie_name)
        if cookie is not None and (
            settings.SESSION_COOKIE_SECURE
            or request.get_host().split(":")[0] in LOOPBACK_HOSTS
            or request.get_host().startswith("[::1]")
        ):
            cookie["secure"] = True
        return response
