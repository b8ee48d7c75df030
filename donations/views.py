"""The transparent OBS browser sources (SPEC §9): ``/overlays/{token}/alerts/`` and
``/overlays/{token}/goal/``. Both answer 404 (a page that says the link is not valid)
for an unknown or rotated token."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.inputs import parse_id
from donations.selectors import overlay_user_id_for_token

DEFAULT_DURATION_SECONDS = 8
MAX_DURATION_SECONDS = 120
# The alert page's sound switch (``?sound=on|off``) and ``?volume=0..100``: on by
# default, like the alert boxes streamers know; the page parses them (invalid values
# fall back to these defaults, which its debug view shows).
DEFAULT_SOUND = True
DEFAULT_VOLUME = 70
ALERT_SOUND = "donations/alert-chime.ogg"


def _duration(request: HttpRequest) -> int:
    seconds = parse_id(request.GET.get("duration", ""))
    if seconds is not None and seconds <= MAX_DURATION_SECONDS:
        return seconds
    return DEFAULT_DURATION_SECONDS


def _overlay_page(
    request: HttpRequest, token: str, template: str, context: dict[str, Any]
) -> HttpResponse:
    user_id = overlay_user_id_for_token(token)
    valid = user_id is not None
    response = render(
        request,
        template,
        {"token": token, "valid": valid, "user_id": user_id, **context},
        status=200 if valid else 404,
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    # The path holds a secret: keep Django's "Not Found: <path>" warning out of the logs.
    response._has_been_logged = True
    return response


@require_GET
def overlay_alerts(request: HttpRequest, token: str) -> HttpResponse:
    return _overlay_page(
        request,
        token,
        "donations/overlay_alerts.html",
        {
            "duration": _duration(request),
            "sound_defaults": {"sound": DEFAULT_SOUND, "volume": DEFAULT_VOLUME},
            "alert_sound": ALERT_SOUND,
        },
    )


@require_GET
def overlay_goal(request: HttpRequest, token: str) -> HttpResponse:
    return _overlay_page(
        request, token, "donations/overlay_goal.html", {"currency": settings.DONATION_CURRENCY}
    )
