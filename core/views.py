"""404/500: JSON for API clients, friendly pages for people.

With ``DEBUG`` on, Django answers an unmatched URL with its technical 404 page and
never calls ``handler404``; pages that know a thing is missing (``/streams/<id>/``)
render the friendly ``404.html`` themselves, so a person sees it in both modes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

from core.api import json_error


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/ingest/", "/webhooks/"))


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        return json_error("not_found", "Not found.", 404)
    body = loader.render_to_string(
        "404.html", {"message": "There is nothing at this address."}, request
    )
    return HttpResponse(body, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return json_error("server_error", "Something went wrong on our side.", 500)
    # No request context: whatever broke the page may break context processors too.
    return HttpResponseServerError(loader.render_to_string("500.html"))
