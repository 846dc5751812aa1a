from typing import Any

from rest_framework.views import APIView

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
