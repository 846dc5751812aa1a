from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error

from cryptr_sso.api.errors import json_error


def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error(404, "not_found", f"There is no API endpoint at {request.path}. See /api/v2/docs.")
    return page_not_found(request, exception)


def api_not_found(request: HttpRequest) -> JsonResponse:
    return json_error(404, "not_found", f"There is no API endpoint at {request.path}. See /api/v2/docs.")


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error(500, "server_error", "The gateway failed to answer. The error was logged; try again later.")
    return html_server_error(request)
