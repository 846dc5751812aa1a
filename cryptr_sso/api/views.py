from typing import Any

from django.utils import translation
from rest_framework.views import APIView

from cryptr_sso.audit import Actor

from .inputs import request_body
from .parsers import PARSER_CLASSES
from .schema import ApiAutoSchema


class ApiView(APIView):
    """Base of every v2 view: the resource whose scope it needs, and the body read the same way for
    JSON and form clients."""

    required_scope_resource: str | None = None
    parser_classes = PARSER_CLASSES
    schema = ApiAutoSchema()

    def dispatch(self, request, *args, **kwargs):
        # The API answers in one language: error descriptions (the services' sentences, DRF's own validation
        # messages) are English whatever Accept-Language says; LocaleMiddleware chose the reader's language
        # for the pages, not for machine clients.
        with translation.override("en"):
            response = super().dispatch(request, *args, **kwargs)
        response.headers["Content-Language"] = "en"
        return response

    def body(self) -> dict[str, Any]:
        return request_body(self.request)

    @property
    def api_key(self):
        return self.request.auth.api_key

    @property
    def actor(self) -> Actor:
        """Who the audit trail says made the change: this API key, from this client."""
        return Actor.of_request(self.request, f"api_key:{self.api_key.client_id}")
