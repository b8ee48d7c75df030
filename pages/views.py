"""Server-rendered shells of the browser pages (SPEC §9); the data comes from the
JSON API and the WebSockets. All user text is inserted with ``textContent``."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import ensure_csrf_cookie

from donations.views import DEFAULT_DURATION_SECONDS, DEFAULT_SOUND, DEFAULT_VOLUME
from streams.selectors import get_stream


@ensure_csrf_cookie
def browse(request: HttpRequest) -> HttpResponse:
    """``/``: live streams, then scheduled ones; login/signup (SPEC §9)."""
    return render(request, "pages/browse.html")


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for ``/favicon.ico`` whatever the page says."""
    return HttpResponsePermanentRedirect(static("pages/favicon.svg"))


def not_found_page(request: HttpRequest, message: str = "") -> HttpResponse:
    """The friendly 404 page, rendered directly so it is what a person sees even with
    ``DEBUG`` on (Django shows its technical 404 page for a raised ``Http404`` then)."""
    return render(
        request,
        "404.html",
        {"message": message or "There is nothing at this address."},
        status=404,
    )


@ensure_csrf_cookie
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/dashboard.html",
        {
            "ingest_rtmp_url": settings.INGEST_RTMP_URL,
            "currency": settings.DONATION_CURRENCY,
            # The streamer's guide (OBS settings and the alert browser source).
            "keyframe_interval_seconds": 2,
            "overlay_width": 800,
            "overlay_height": 600,
            "alert_duration_default": DEFAULT_DURATION_SECONDS,
            "alert_duration_max": 120,
            "alert_sound_default": DEFAULT_SOUND,
            "alert_volume_default": DEFAULT_VOLUME,
        },
    )


@ensure_csrf_cookie
def watch(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_stream(stream_id)
    if stream is None:
        return not_found_page(
            request, "This stream does not exist, or it was removed. Find another one below."
        )
    return render(
        request,
        "pages/watch.html",
        {
            "stream_id": stream.id,
            "stream_title": stream.title,
            "playback_url": settings.PLAYBACK_URL_TEMPLATE.format(stream_id=stream.id),
            "currency": settings.DONATION_CURRENCY,
            # SPEC §9 "Local payments": a test-mode "Complete payment" step, not Stripe.js.
            "stripe_test_mode": settings.STRIPE_LOCAL_TEST_MODE,
        },
    )


@ensure_csrf_cookie
def webhooks(request: HttpRequest) -> HttpResponse:
    """``/dashboard/webhooks/``: the streamer's outbound webhooks (SPEC §7a)."""
    from webhooks.event_types import EVENT_TYPES

    return render(request, "pages/webhooks.html", {"event_types": EVENT_TYPES})
