"""Chat REST endpoints (SPEC §5): history paging and moderation."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import public_user
from chat import selectors, services
from chat.selectors import message_page
from chat.serializers import chat_ban_payload
from core.exceptions import NotFound
from streams.selectors import get_stream

MAX_PAGE = 100
DEFAULT_PAGE = 50


class ChatMessagesApi(APIView):
    class QuerySerializer(serializers.Serializer):
        before = serializers.IntegerField(required=False, min_value=1)
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_PAGE, default=DEFAULT_PAGE
        )

    @extend_schema(parameters=[QuerySerializer], responses={200: dict})
    def get(self, request: Request, stream_id: int) -> Response:
        """Visible messages, newest first; page with ``before=<oldest id seen>``."""
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stream = get_stream(stream_id)
        if stream is None:
            raise NotFound("No such stream.")
        limit = query.validated_data["limit"]
        messages = message_page(
            stream_id=stream.id,
            channel_id=stream.streamer_id,
            before=query.validated_data.get("before"),
            limit=limit,
        )
        return Response({"messages": messages, "has_more": len(messages) == limit})


class ChatMessageApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, stream_id: int, message_id: int) -> Response:
        services.check_delete_chat_message(
            actor=request.user, stream_id=stream_id, message_id=message_id
        )
        return Response(status=204)


class ChatBansApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1)
        duration_seconds = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)

    @extend_schema(responses={200: dict})
    def get(self, request: Request, stream_id: int) -> Response:
        stream, _ = services.access_stream_for_moderation(request.user, stream_id)
        bans = selectors.channel_bans(channel_id=stream.streamer_id)
        return Response({"bans": [chat_ban_payload(b) for b in bans]})

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request, stream_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ban = services.check_ban_chat_user(
            actor=request.user, stream_id=stream_id, **data.validated_data
        )
        return Response(chat_ban_payload(ban), status=201)


class ChatBanApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, stream_id: int, user_id: int) -> Response:
        services.check_unban_chat_user(actor=request.user, stream_id=stream_id, user_id=user_id)
        return Response(status=204)


class ChatSettingsApi(APIView):
    class InputSerializer(serializers.Serializer):
        slow_mode_seconds = serializers.IntegerField(
            min_value=0, max_value=services.MAX_SLOW_MODE_SECONDS
        )

    @extend_schema(responses={200: dict})
    def get(self, request: Request, stream_id: int) -> Response:
        if get_stream(stream_id) is None:
            raise NotFound("No such stream.")
        return Response({"slow_mode_seconds": services.get_chat_settings(stream_id)})

    @extend_schema(request=InputSerializer, responses={200: dict})
    def patch(self, request: Request, stream_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.check_set_chat_settings(
            actor=request.user, stream_id=stream_id, **data.validated_data
        )
        return Response({"slow_mode_seconds": row.slow_mode_seconds})


class ChatModeratorsApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1)

    @extend_schema(responses={200: dict})
    def get(self, request: Request, stream_id: int) -> Response:
        stream, _ = services.access_stream_for_moderation(request.user, stream_id)
        rows = selectors.channel_moderators(channel_id=stream.streamer_id)
        return Response({"moderators": [public_user(r.user) for r in rows]})

    @extend_schema(request=InputSerializer, responses={201: dict})
    def post(self, request: Request, stream_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.check_add_chat_moderator(
            actor=request.user, stream_id=stream_id, **data.validated_data
        )
        return Response(public_user(user), status=201)


class ChatModeratorApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, stream_id: int, user_id: int) -> Response:
        services.check_remove_chat_moderator(
            actor=request.user, stream_id=stream_id, user_id=user_id
        )
        return Response(status=204)
