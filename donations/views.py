"""``/overlays/{token}/alerts/``: the transparent OBS browser source (SPEC §9)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.inputs import parse_id
from donations.selectors import overlay_user_id_for_token

DEFAULT_DURATION_SECONDS = 8


def _duration(request: HttpRequest) -> int:
    seconds = parse_id(request.GET.get("duration", ""))
    if seconds is not None and seconds <= 120:
        return seconds
    return DEFAULT_DURATION_SECONDS


@require_GET
def overlay_alerts(request: HttpRequest, token: str) -> HttpResponse:
    user_id = overlay_user_id_for_token(token)
    valid = user_id is not None
    response = render(
        request,
        "donations/overlay_alerts.html",
        {"token": token, "duration": _duration(request), "valid": valid, "user_id": user_id},
        status=200 if valid else 404,
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    # The path holds a secret: keep Django's "Not Found: <path>" warning out of the logs.
    response._has_been_logged = True
    return response
