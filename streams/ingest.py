"""Ingest server callbacks: ``POST /ingest/on_publish|on_publish_done|on_update`` and
``on_record_done`` (a recording to archive: ``streams.archives``).

nginx-rtmp sends form fields (``call``, ``app``, ``name`` = the stream key, ``addr``,
``clientid``, ...); any 2xx lets the publisher continue, anything else drops it.
SRS JSON hooks (``{"action": "on_publish", "stream": ..., "client_id": ...}``) are
accepted on the same paths and answered the SRS way (200 with body ``0`` allows).

Optional shared secret: ``INGEST_SECRET`` as the ``secret`` query parameter.
Optional ``relay`` query parameter (nginx only): an ``rtmp://`` application URL; an
accepted publish is answered ``302 Location: <relay>/<stream id>``, which makes
nginx-rtmp push the stream to that application under its id, so HLS files and
playback URLs are named by stream id and never by the secret key.

The stream key never reaches a log line or a response body here.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.api import json_error
from core.metrics import INGEST_CALLBACKS
from streams import archives, heartbeats, services

logger = logging.getLogger(__name__)

PUBLISH = "publish"
PUBLISH_DONE = "publish_done"
UPDATE = "update"

_HANDLERS: dict[str, Callable[..., services.IngestResult]] = {
    PUBLISH: services.do_ingest_publish,
    PUBLISH_DONE: services.do_ingest_publish_done,
    UPDATE: services.do_ingest_update,
}
# SRS hook actions → our callbacks (SRS has no heartbeat; ``on_hls`` fires per segment).
_SRS_ACTIONS = {
    "on_publish": PUBLISH,
    "on_unpublish": PUBLISH_DONE,
    "on_hls": UPDATE,
}


def _secret_ok(request: HttpRequest) -> bool:
    expected = settings.INGEST_SECRET
    if not expected:
        return True
    given = request.GET.get("secret", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def _parse(request: HttpRequest, kind: str) -> tuple[str, dict[str, str], bool]:
    """(callback kind, fields, is_srs) from an nginx form or an SRS JSON body."""
    content_type = request.content_type or ""
    if content_type == "application/json" or request.body[:1] == b"{":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        kind = _SRS_ACTIONS.get(str(body.get("action", "")), kind)
        fields = {
            "name": str(body.get("stream") or ""),
            "clientid": str(body.get("client_id") or ""),
            "addr": str(body.get("ip") or ""),
            "call": str(body.get("action") or ""),
        }
        return kind, fields, True
    fields = {k: request.POST.get(k, "") for k in ("name", "clientid", "addr", "call", "app")}
    return kind, fields, False


def _answer(allowed: bool, *, srs: bool, location: str | None = None) -> HttpResponse:
    if srs:
        return HttpResponse("0" if allowed else "1", status=200 if allowed else 403)
    if not allowed:
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if location:
        response = HttpResponse(status=302)
        response["Location"] = location
        return response
    return HttpResponse("ok\n", content_type="text/plain")


def _relay_location(request: HttpRequest, stream_id: int | None) -> str | None:
    relay = request.GET.get("relay", "")
    if stream_id is None or not relay.startswith("rtmp://"):
        return None
    return f"{relay.rstrip('/')}/{stream_id}"


def _callback(kind: str):
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        actual_kind, fields, srs = _parse(request, kind)
        client = fields["clientid"]
        if not _secret_ok(request):
            # Nothing from the unauthenticated body: the peer address is the fact here.
            logger.warning(
                "ingest %s refused: wrong secret (peer %s)",
                actual_kind,
                request.META.get("REMOTE_ADDR", "-"),
            )
            INGEST_CALLBACKS.labels(actual_kind, "bad_secret").inc()
            return _answer(False, srs=srs)
        if actual_kind == UPDATE and fields["call"].startswith("update_play"):
            # nginx-rtmp also reports its players (and its own HLS relay) here.
            INGEST_CALLBACKS.labels(actual_kind, "allowed").inc()
            return _answer(True, srs=srs)
        if not fields["name"]:
            logger.info("ingest %s refused: empty stream key (client %s)", actual_kind, client)
            INGEST_CALLBACKS.labels(actual_kind, "refused").inc()
            return _answer(False, srs=srs)
        result = _HANDLERS[actual_kind](stream_key=fields["name"], client_id=client)
        INGEST_CALLBACKS.labels(actual_kind, "allowed" if result.allowed else "refused").inc()
        if result.allowed:
            # Heartbeats arrive every few seconds per stream: keep them out of INFO.
            log = logger.debug if actual_kind == UPDATE else logger.info
        else:
            log = logger.warning if actual_kind == PUBLISH else logger.info
        log(
            "ingest %s %s: %s (stream %s, client %s, addr %s)",
            actual_kind,
            "allowed" if result.allowed else "refused",
            result.reason,
            result.stream_id if result.stream_id is not None else "-",
            client,
            fields["addr"],
        )
        location = None
        if actual_kind == PUBLISH and result.allowed and not srs:
            location = _relay_location(request, result.stream_id)
        return _answer(result.allowed, srs=srs, location=location)

    view.__name__ = f"on_{kind}"
    return _with_heartbeat_fast_path(view) if kind == UPDATE else view


def _with_heartbeat_fast_path(view):
    """``on_update`` of a publisher whose earlier heartbeat the database verified: one
    Redis call on the event loop (``streams.heartbeats``), no database, no row lock.
    Everything else (no lease, another client, a kick to decide, SRS, players, a wrong
    secret, the test client) goes to ``view``, the database path."""

    async def on_update(request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and isinstance(request, ASGIRequest) and _secret_ok(request):
            actual_kind, fields, srs = _parse(request, UPDATE)
            if actual_kind == UPDATE and not srs and not fields["call"].startswith("update_play"):
                stream_id = await heartbeats.beat(fields["name"], fields["clientid"])
                if stream_id is not None:
                    INGEST_CALLBACKS.labels(UPDATE, "allowed").inc()
                    logger.debug(
                        "ingest update allowed: heartbeat (stream %s, client %s, addr %s)",
                        stream_id,
                        fields["clientid"],
                        fields["addr"],
                    )
                    return _answer(True, srs=False)
        return await sync_to_async(view)(request)

    on_update.csrf_exempt = True  # type: ignore[attr-defined]
    return on_update


RECORD_DONE = "record_done"


@csrf_exempt
@require_POST
def on_record_done(request: HttpRequest) -> HttpResponse:
    """nginx-rtmp's ``on_record_done`` (``name`` = the key, ``path`` = the recorded
    file; ``relay`` as on ``on_publish``): see ``streams.archives.check_record_done``.
    200 stored (or already stored), 403 wrong secret or unknown key, 400 bad path.
    The path is never logged: without the relay rename it contains the key."""
    if not _secret_ok(request):
        logger.warning(
            "ingest %s refused: wrong secret (peer %s)",
            RECORD_DONE,
            request.META.get("REMOTE_ADDR", "-"),
        )
        INGEST_CALLBACKS.labels(RECORD_DONE, "bad_secret").inc()
        return _answer(False, srs=False)
    result = archives.check_record_done(
        stream_key=request.POST.get("name", ""),
        path=request.POST.get("path", ""),
        relay=request.GET.get("relay", ""),
    )
    INGEST_CALLBACKS.labels(RECORD_DONE, result.verdict).inc()
    (logger.info if result.verdict == "allowed" else logger.warning)(
        "ingest %s %s: %s (stream %s, recording %s)",
        RECORD_DONE,
        result.verdict,
        result.reason,
        result.stream_id if result.stream_id is not None else "-",
        result.recording_id if result.recording_id is not None else "-",
    )
    if result.verdict == "invalid":
        return json_error("invalid_path", archives.INVALID_PATH, 400)
    return _answer(result.verdict == "allowed", srs=False)


urlpatterns = [
    path("on_publish", _callback(PUBLISH), name="ingest-on-publish"),
    path("on_publish_done", _callback(PUBLISH_DONE), name="ingest-on-publish-done"),
    path("on_update", _callback(UPDATE), name="ingest-on-update"),
    path("on_record_done", on_record_done, name="ingest-on-record-done"),
]
