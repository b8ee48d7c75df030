"""The HTTP floor of ``bench/http_bench.py``: a minimal Django app, one JSON view, no
database and no middleware, served by the same ASGI server as the project.

What the project's endpoints are compared against: Django's own cost per request on
this machine and server (request parsing, URL resolving, one sync view, JSON).

    .venv/bin/python -m uvicorn http_floor:application --app-dir bench
"""

from __future__ import annotations

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="floor-" + "x" * 40,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()


def stream(request, sid: int) -> JsonResponse:
    return JsonResponse(
        {
            "id": sid,
            "title": "floor",
            "status": "live",
            "viewer_count": 0,
            "streamer": {"id": 1, "username": "floor"},
            "total_donations": "0.00",
        }
    )


urlpatterns = [path("api/streams/<int:sid>", stream)]

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
