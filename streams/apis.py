"""``/api/streams*`` (SPEC §5): parse → call a service → serialize.

Public reads never carry the stream key; only ``/key`` and ``/key/rotate`` (owner,
``Cache-Control: no-store``) do.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import Forbidden, NotAuthenticated, NotFound, ValidationFailed
from core.inputs import parse_id
from core.openapi import LOGIN_AUTH, LOGIN_CSRF_AUTH, errors
from realtime import presence
from streams import selectors, services
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


def _stream_view(request: Request, stream: LiveStream) -> dict[str, Any]:
    if request.user.is_authenticated and stream.streamer_id == request.user.id:
        return owner_stream(stream)
    return public_stream(stream)


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

    @extend_schema(
        operation_id="streams_retrieve",
        responses={200: StreamDetail, **errors(404)},
    )
    def get(self, request: Request, stream_id: int) -> Response:
        stream = selectors.get_stream(stream_id)
        if stream is None:
            raise NotFound("Stream not found.")
        return Response(_stream_view(request, stream))

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
