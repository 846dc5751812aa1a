"""The OpenAPI schema generator of the v2 API."""

import inspect
import re

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers


class ApiAutoSchema(AutoSchema):
    """drf-spectacular names a GET `<resource>_list` only when the view returns a many=True serializer.
    Our lists are `List` envelopes, so a collection and its items would both be `<resource>_retrieve`
    (an operationId collision, which code generators reject). A GET on a path that does not end with a
    path parameter is a list."""

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        if self.method == "GET" and not re.search(r"\{[^}]+\}/?$", self.path) and operation_id.endswith("_retrieve"):
            operation_id = operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_description(self):
        # The method's docstring, else the view's own; never the one the view inherits from ApiView.
        method_doc = inspect.getdoc(getattr(self.view, self.method.lower(), None)) or ""
        view_doc = vars(type(self.view)).get("__doc__") or ""
        return method_doc or inspect.cleandoc(view_doc)

    def get_auth(self):
        # SPECTACULAR_SETTINGS["SECURITY"] repeats the requirement the authentication extension already adds.
        auths = []
        for requirement in super().get_auth():
            if requirement not in auths:
                auths.append(requirement)
        return auths


# --- pieces every v2 view documents the same way -----------------------------------------------------


class ErrorOutput(serializers.Serializer):
    error = serializers.CharField()
    error_description = serializers.CharField()
    fields = serializers.DictField()


ERRORS = {code: ErrorOutput for code in (400, 401, 403, 404)}

PAGE_PARAMS = [
    OpenApiParameter(
        "page",
        {"type": "integer", "minimum": 1, "default": 1},
        description="Page number, from 1 (alias: current_page). Past the last page, `data` is empty.",
    ),
    OpenApiParameter(
        "per_page",
        {"type": "integer", "minimum": 1, "default": settings.API_DEFAULT_PER_PAGE},
        description=f"Items per page, default {settings.API_DEFAULT_PER_PAGE}, at most "
        f"{settings.API_MAX_PER_PAGE}: larger values are capped (see pagination.per_page).",
    ),
]


def list_schema(item: type[serializers.Serializer], name: str):
    """The `List` envelope of `item`s, as cryptr_sso.api.pagination.list_envelope answers it."""
    return inline_serializer(
        name,
        fields={
            "__type__": serializers.CharField(),
            "__domain__": serializers.CharField(allow_null=True),
            "data": item(many=True),
            "total": serializers.IntegerField(),
            "pagination": inline_serializer(
                f"{name}Pagination",
                fields={
                    key: serializers.IntegerField(allow_null=True)
                    for key in ("current_page", "next_page", "prev_page", "per_page", "total_pages")
                },
            ),
        },
    )


def deleted_schema(item: type[serializers.Serializer], name: str):
    """`{"deleted": true, "resource": ...}`, the answer of every DELETE."""
    return inline_serializer(name, fields={"deleted": serializers.BooleanField(), "resource": item()})
