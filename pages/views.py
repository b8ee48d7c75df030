"""Server-rendered shells of the browser pages (SPEC §9); the data comes from the
JSON API and the WebSockets. All user text is inserted with ``textContent``."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from streams.selectors import get_stream


@ensure_csrf_cookie
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/dashboard.html",
        {"ingest_rtmp_url": settings.INGEST_RTMP_URL, "currency": settings.DONATION_CURRENCY},
    )


@ensure_csrf_cookie
def watch(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_stream(stream_id)
    if stream is None:
        raise Http404("No such stream.")
    return render(
        request,
        "pages/watch.html",
        {
            "stream_id": stream.id,
            "stream_title": stream.title,
            "playback_url": settings.PLAYBACK_URL_TEMPLATE.format(stream_id=stream.id),
            "currency": settings.DONATION_CURRENCY,
        },
    )
