"""One error shape for the whole v2 API: {"error", "error_description", "fields"}."""

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(exceptions.APIException):
    """An error a service raises with its machine code and a sentence a person can act on."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_request"
    default_detail = "The request is not valid."

    def __init__(
        self,
        description: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(description or self.default_detail, code or self.default_code)
        self.error = code or self.default_code
        self.fields = fields or {}
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "not_found"
    default_detail = "There is no such resource, or your API key cannot see it."


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with an existing resource."


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class StateError(ApiError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "invalid_state"
    default_detail = "The resource is not in a state that allows this."


def error_body(error: str, description: str, fields: dict | None = None) -> dict[str, Any]:
    return {"error": error, "error_description": description, "fields": fields or {}}


def _flatten(detail: Any) -> Any:
    """DRF nests ErrorDetail in lists and dicts; keep the nesting, turn the leaves into plain strings."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _first_problem(name: str, detail: Any) -> tuple[str, str]:
    """The dotted path to the first leaf message ("profile.given_name", "allowed_email_domains.2") and it."""
    while isinstance(detail, (list, dict)) and detail:
        if isinstance(detail, dict):
            key, detail = next(iter(detail.items()))
            if key != "non_field_errors":
                name = f"{name}.{key}"
        else:
            detail = detail[0]
    return name, str(detail)


def _describe_fields(fields: dict[str, Any]) -> str:
    names = [name for name in fields if name != "non_field_errors"]
    if not names:
        messages = fields.get("non_field_errors") or []
        return " ".join(str(m) for m in messages) or "The request body is not valid."
    path, first = _first_problem(names[0], fields[names[0]])
    if len(names) == 1:
        return f"Check '{path}': {first}"
    listed = ", ".join(f"'{name}'" for name in names)
    return f"Check the fields {listed}. First problem, '{path}': {first}"


_DRF_CODES = {
    exceptions.NotAuthenticated: (
        "unauthorized",
        "Send an access token from POST /api/v2/oauth/token as 'Authorization: Bearer <token>'.",
    ),
    exceptions.AuthenticationFailed: ("invalid_token", None),
    exceptions.PermissionDenied: ("insufficient_scope", None),
    exceptions.NotFound: ("not_found", "There is no such resource, or your API key cannot see it."),
    exceptions.MethodNotAllowed: ("method_not_allowed", None),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "Send the body as application/json or application/x-www-form-urlencoded.",
    ),
    exceptions.ParseError: ("malformed_body", None),
    exceptions.NotAcceptable: ("not_acceptable", "This API answers in application/json."),
    exceptions.Throttled: ("rate_limited", None),
}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        # Django's own body limits (form and multipart parsing); without this they become an HTML 400.
        exc = PayloadTooLarge("The request body is too large, or has too many fields.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApiError):
        body = error_body(exc.error, str(exc.detail), _flatten(exc.fields))
        return Response(body, status=exc.status_code, headers=exc.headers)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail) if isinstance(exc.detail, dict) else {"non_field_errors": _flatten(exc.detail)}
        response.data = error_body("invalid_request", _describe_fields(fields), fields)
        return response
    code, description = "error", None
    for klass, (klass_code, klass_description) in _DRF_CODES.items():
        if isinstance(exc, klass):
            code, description = klass_code, klass_description
            break
    detail = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    if isinstance(exc, exceptions.ParseError):
        description = f"The request body could not be read: {detail}"
    response.data = error_body(code, description or detail)
    return response


def json_error(status_code: int, error: str, description: str) -> JsonResponse:
    return JsonResponse(error_body(error, description), status=status_code)
