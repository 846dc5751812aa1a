from typing import Any

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

    def body(self) -> dict[str, Any]:
        return request_body(self.request)

    @property
    def api_key(self):
        return self.request.auth.api_key

    @property
    def actor(self) -> Actor:
        """Who the audit trail says made the change: this API key, from this client."""
        return Actor.of_request(self.request, f"api_key:{self.api_key.client_id}")
