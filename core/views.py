"""JSON 404/500 for API clients; plain pages keep Django's own."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from core.api import json_error


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/ingest/", "/webhooks/"))


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        return json_error("not_found", "Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return json_error("server_error", "Something went wrong on our side.", 500)
    return defaults.server_error(request)
