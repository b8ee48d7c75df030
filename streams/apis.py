"""``/api/streams*`` (SPEC §5): parse → call a service → serialize.

Public reads never carry the stream key; only ``/key`` and ``/key/rotate`` (owner,
``Cache-Control: no-store``) do.

``GET /api/streams/{id}`` is the hottest read (every page load): it is served from the
room's join snapshot in Redis (``realtime.snapshots``, kept current by every room event
and ``invalidate_snapshots_on_commit``) plus the live viewer count, in one Redis round
trip and no database query; a request without a session cookie never leaves the event
loop. Only the owner's view (ingest status) reads the database. Every answer carries an
``ETag`` over its exact body (``If-None-Match`` → 304) and ``Cache-Control: no-cache``:
clients revalidate every time, since the viewer count moves.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from redis import RedisError
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.selectors import room_snapshot_data
from core.exceptions import Forbidden, NotAuthenticated, NotFound, ValidationFailed
from core.inputs import parse_id
from core.openapi import LOGIN_AUTH, LOGIN_CSRF_AUTH, errors
from realtime import presence, snapshots
from realtime.sockets import db_call
from streams import heartbeats, selectors, services
from streams.models import LiveStream
from streams.schemas import OwnerStream, StreamDetail, StreamKey, StreamPage, StreamStats
from streams.serializers import owner_stream, public_stream, stream_key_payload


def _user(request: Request):
    if not request.user.is_authenticated:
        raise NotAuthenticated("Log in first.")
    return request.user


def access_stream(user, stream_id: int) -> LiveStream:
    """The stream, if ``user`` owns it (404 unknown, 403 someone else's)."""
    stream = selectors.get_stream(stream_id)
    if stream is None:
        raise NotFound("Stream not found.")
    if stream.streamer_id != user.id:
        raise Forbidden("Only the stream's owner may do this.")
    return stream


logger = logging.getLogger(__name__)

# A snapshot miss loads on the socket database threads, shared with joins of the room.
_load_snapshot = db_call(room_snapshot_data)


def _json_bytes(payload: dict[str, Any]) -> bytes:
    """What DRF's JSONRenderer writes (compact, UTF-8, U+2028/2029 escaped)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _revalidated(request: HttpRequest, body: bytes) -> HttpResponse:
    """200 with an ``ETag`` over ``body``, or 304 when ``If-None-Match`` names it."""
    etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
    known = parse_etags(request.headers.get("If-None-Match", ""))
    if etag in known or "*" in known:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    patch_vary_headers(response, ("Cookie",))  # the owner gets another body
    return response


def _public_body(payload: dict[str, Any], counts: list[Any]) -> bytes:
    payload["viewer_count"] = presence.count_from(*counts)
    return _json_bytes(payload)


def _stream_from_database(request: Request, stream_id: int) -> HttpResponse:
    """The owner's view, and every view while Redis is unreachable."""
    stream = selectors.get_stream(stream_id)
    if stream is None:
        raise NotFound("Stream not found.")
    user = request.user
    if user.is_authenticated and stream.streamer_id == user.id:
        # Heartbeats on the fast path record the ingest's last callback in Redis only.
        seen = heartbeats.last_seen([stream.id]).get(stream.id)
        if seen is not None and (stream.ingest_seen_at is None or seen > stream.ingest_seen_at):
            stream.ingest_seen_at = seen
        return _revalidated(request, _json_bytes(owner_stream(stream)))
    return _revalidated(request, _json_bytes(public_stream(stream)))


async def _anonymous_read(request: HttpRequest, stream_id: int) -> HttpResponse | None:
    """The public stream from the snapshot, on the event loop; ``None`` when Redis
    cannot answer (the caller falls back to the database)."""
    try:
        payload, counts = await snapshots.stream_payload(
            stream_id,
            _load_snapshot,
            also=lambda pipe: presence.queue_viewer_count(pipe, stream_id),
        )
    except RedisError as exc:
        logger.warning("stream snapshot unavailable (%s); reading the database", type(exc).__name__)
        return None
    if payload is None:
        return HttpResponse(
            _json_bytes({"error": {"code": "not_found", "message": "Stream not found."}}),
            status=404,
            content_type="application/json",
        )
    return _revalidated(request, _public_body(payload, counts))


def _with_anonymous_fast_path(view: Any) -> Any:
    """``view`` (the DRF view), fronted by an async view that answers an anonymous
    ``GET`` itself: no session cookie means no user to load, no owner view, nothing DRF
    would add (no authentication, throttle or permission applies to it)."""

    async def stream_detail(request: HttpRequest, stream_id: int) -> HttpResponse:
        # ASGIRequest: served by an ASGI server on its long-lived loop (the sync test
        # client runs this view on a throwaway loop inside the test's transaction).
        if (
            isinstance(request, ASGIRequest)
            and request.method == "GET"
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
        ):
            response = await _anonymous_read(request, stream_id)
            if response is not None:
                return response
        return await sync_to_async(view)(request, stream_id=stream_id)

    functools.update_wrapper(stream_detail, view)  # cls, initkwargs, csrf_exempt (schema)
    return stream_detail


class StreamPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class StreamListCreateApi(APIView):
    @extend_schema_serializer(component_name="StreamCreateRequest")
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=services.TITLE_MAX)
        description = serializers.CharField(
            required=False,
            allow_blank=True,
            allow_null=True,
            max_length=services.DESCRIPTION_MAX,
        )
        scheduled_start = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        operation_id="streams_list",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=[c for c, _ in LiveStream.Status.choices],
                description="Only streams in this state, e.g. `live`.",
            ),
            OpenApiParameter("streamer", int, description="Only this user's streams."),
            OpenApiParameter("page", int, description="1-based page number."),
            OpenApiParameter("page_size", int, description="Default 20, at most 100."),
        ],
        responses={200: StreamPage, **errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        """Public list of streams, newest first; ``?status=live`` for what is on air."""
        status = request.query_params.get("status") or None
        if status is not None and status not in LiveStream.Status.values:
            raise ValidationFailed(
                f"status: one of {', '.join(LiveStream.Status.values)}.",
                extra={"field": "status"},
            )
        streamer = request.query_params.get("streamer") or None
        streamer_id = parse_id(streamer)
        if streamer is not None and streamer_id is None:
            raise ValidationFailed("streamer: a user id.", extra={"field": "streamer"})
        queryset = selectors.list_streams(status=status, streamer_id=streamer_id)
        paginator = StreamPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        counts = presence.viewer_counts([s.id for s in page])
        return paginator.get_paginated_response(
            [public_stream(s, viewer_count=counts[s.id]) for s in page]
        )

    @extend_schema(
        operation_id="streams_create",
        request=InputSerializer,
        responses={201: OwnerStream, **errors(400, 401, 403)},
        auth=LOGIN_CSRF_AUTH,
        description="Schedule a stream (201: the owner's view of the new stream).",
    )
    def post(self, request: Request) -> Response:
        user = _user(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stream = services.check_create_stream(streamer=user, **data.validated_data)
        return Response(owner_stream(stream), status=201)


class StreamDetailApi(APIView):
    @extend_schema_serializer(component_name="StreamUpdateRequest")
    class PatchSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=services.TITLE_MAX, required=False)
        description = serializers.CharField(
            required=False,
            allow_blank=True,
            allow_null=True,
            max_length=services.DESCRIPTION_MAX,
        )

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        return _with_anonymous_fast_path(super().as_view(**initkwargs))

    @extend_schema(
        operation_id="streams_retrieve",
        responses={200: StreamDetail, **errors(404)},
    )
    def get(self, request: Request, stream_id: int) -> HttpResponse:
        """The public stream (the owner: with the ingest status). From the snapshot
        cache unless it is the owner asking or Redis is unreachable."""
        try:
            payload, counts = snapshots.stream_payload_sync(
                stream_id,
                room_snapshot_data,
                also=lambda pipe: presence.queue_viewer_count(pipe, stream_id),
            )
        except RedisError as exc:
            logger.warning(
                "stream snapshot unavailable (%s); reading the database", type(exc).__name__
            )
            return _stream_from_database(request, stream_id)
        if payload is None:
            raise NotFound("Stream not found.")
        user = request.user
        if user.is_authenticated and payload["streamer"]["id"] == user.id:
            return _stream_from_database(request, stream_id)
        return _revalidated(request, _public_body(payload, counts))

    @extend_schema(
        request=PatchSerializer,
        responses={200: OwnerStream, **errors(400, 401, 403, 404)},
        auth=LOGIN_CSRF_AUTH,
    )
    def patch(self, request: Request, stream_id: int) -> Response:
        user = _user(request)
        data = self.PatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stream = services.check_update_stream(user=user, stream_id=stream_id, **data.validated_data)
        return Response(owner_stream(stream))


def _key_response(stream: LiveStream) -> Response:
    response = Response(stream_key_payload(stream))
    response["Cache-Control"] = "no-store"
    return response


class StreamKeyApi(APIView):
    @extend_schema(responses={200: StreamKey, **errors(401, 403, 404)}, auth=LOGIN_AUTH)
    def get(self, request: Request, stream_id: int) -> Response:
        """The stream key and the RTMP server URL to paste into OBS (owner only)."""
        return _key_response(access_stream(_user(request), stream_id))


class StreamKeyRotateApi(APIView):
    @extend_schema(
        request=None,
        responses={200: StreamKey, **errors(401, 403, 404, 409)},
        auth=LOGIN_CSRF_AUTH,
    )
    def post(self, request: Request, stream_id: int) -> Response:
        """A new key; the old one stops working. 409 while live."""
        user = _user(request)
        return _key_response(services.do_rotate_stream_key(stream_id=stream_id, user=user))


class StreamStartApi(APIView):
    @extend_schema(
        request=None,
        responses={200: OwnerStream, **errors(401, 403, 404, 409)},
        auth=LOGIN_CSRF_AUTH,
    )
    def post(self, request: Request, stream_id: int) -> Response:
        stream = services.do_go_live(stream_id=stream_id, user=_user(request))
        return Response(owner_stream(stream))


class StreamEndApi(APIView):
    @extend_schema(
        request=None,
        responses={200: OwnerStream, **errors(401, 403, 404, 409)},
        auth=LOGIN_CSRF_AUTH,
    )
    def post(self, request: Request, stream_id: int) -> Response:
        stream = services.do_end_stream(stream_id=stream_id, user=_user(request))
        return Response(owner_stream(stream))


class StreamCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: OwnerStream, **errors(401, 403, 404, 409)},
        auth=LOGIN_CSRF_AUTH,
    )
    def post(self, request: Request, stream_id: int) -> Response:
        stream = services.do_cancel_stream(stream_id=stream_id, user=_user(request))
        return Response(owner_stream(stream))


class StreamStatsApi(APIView):
    @extend_schema(responses={200: StreamStats, **errors(401, 403, 404)}, auth=LOGIN_AUTH)
    def get(self, request: Request, stream_id: int) -> Response:
        stream = access_stream(_user(request), stream_id)
        return Response(selectors.stream_stats(stream))
