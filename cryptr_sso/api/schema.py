"""The OpenAPI schema generator of the v2 API."""

import inspect
import re

from drf_spectacular.openapi import AutoSchema


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
