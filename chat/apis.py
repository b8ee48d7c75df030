"""Chat REST endpoints (SPEC §5): history paging and moderation."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.schemas import PublicUser
from accounts.serializers import public_user
from chat import selectors, services
from chat.schemas import ChatBan, ChatBanList, ChatMessagePage, ChatModeratorList, ChatSettings
from chat.selectors import message_page
from chat.serializers import chat_ban_payload
from core.exceptions import NotFound
from core.openapi import LOGIN_AUTH, LOGIN_CSRF_AUTH, errors
from streams.selectors import get_stream

MAX_PAGE = 100
DEFAULT_PAGE = 50


class ChatMessagesApi(APIView):
    class QuerySerializer(serializers.Serializer):
        before = serializers.IntegerField(
            required=False, min_value=1, help_text="Only messages older than this id."
        )
        limit = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=MAX_PAGE,
            default=DEFAULT_PAGE,
            help_text=f"At most {MAX_PAGE}.",
        )

    @extend_schema(
        operation_id="streams_chat_messages_list",
        parameters=[QuerySerializer],
        responses={200: ChatMessagePage, **errors(400, 404)},
    )
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
    @extend_schema(
        request=None,
        responses={204: None, **errors(401, 403, 404)},
        auth=LOGIN_CSRF_AUTH,
        description="Delete a message (the stream's owner or a moderator).",
    )
    def delete(self, request: Request, stream_id: int, message_id: int) -> Response:
        services.check_delete_chat_message(
            actor=request.user, stream_id=stream_id, message_id=message_id
        )
        return Response(status=204)


class ChatBansApi(APIView):
    @extend_schema_serializer(component_name="ChatBanRequest")
    class InputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1)
        duration_seconds = serializers.IntegerField(
            required=False, allow_null=True, default=None, min_value=1
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)

    @extend_schema(
        operation_id="streams_chat_bans_list",
        responses={200: ChatBanList, **errors(401, 403, 404)},
        auth=LOGIN_AUTH,
    )
    def get(self, request: Request, stream_id: int) -> Response:
        stream, _ = services.access_stream_for_moderation(request.user, stream_id)
        bans = selectors.channel_bans(channel_id=stream.streamer_id)
        return Response({"bans": [chat_ban_payload(b) for b in bans]})

    @extend_schema(
        request=InputSerializer,
        responses={201: ChatBan, **errors(400, 401, 403, 404)},
        auth=LOGIN_CSRF_AUTH,
        description="Ban (`duration_seconds` null) or time out a user in the streamer's"
        " channel: it holds in all of that streamer's streams.",
    )
    def post(self, request: Request, stream_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ban = services.check_ban_chat_user(
            actor=request.user, stream_id=stream_id, **data.validated_data
        )
        return Response(chat_ban_payload(ban), status=201)


class ChatBanApi(APIView):
    @extend_schema(
        request=None, responses={204: None, **errors(401, 403, 404)}, auth=LOGIN_CSRF_AUTH
    )
    def delete(self, request: Request, stream_id: int, user_id: int) -> Response:
        services.check_unban_chat_user(actor=request.user, stream_id=stream_id, user_id=user_id)
        return Response(status=204)


class ChatSettingsApi(APIView):
    @extend_schema_serializer(component_name="ChatSettingsRequest")
    class InputSerializer(serializers.Serializer):
        slow_mode_seconds = serializers.IntegerField(
            min_value=0, max_value=services.MAX_SLOW_MODE_SECONDS
        )

    @extend_schema(responses={200: ChatSettings, **errors(404)})
    def get(self, request: Request, stream_id: int) -> Response:
        if get_stream(stream_id) is None:
            raise NotFound("No such stream.")
        return Response({"slow_mode_seconds": services.get_chat_settings(stream_id)})

    @extend_schema(
        request=InputSerializer,
        responses={200: ChatSettings, **errors(400, 401, 403, 404)},
        auth=LOGIN_CSRF_AUTH,
    )
    def patch(self, request: Request, stream_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.check_set_chat_settings(
            actor=request.user, stream_id=stream_id, **data.validated_data
        )
        return Response({"slow_mode_seconds": row.slow_mode_seconds})


class ChatModeratorsApi(APIView):
    @extend_schema_serializer(component_name="ChatModeratorRequest")
    class InputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField(min_value=1)

    @extend_schema(
        operation_id="streams_chat_moderators_list",
        responses={200: ChatModeratorList, **errors(401, 403, 404)},
        auth=LOGIN_AUTH,
    )
    def get(self, request: Request, stream_id: int) -> Response:
        stream, _ = services.access_stream_for_moderation(request.user, stream_id)
        rows = selectors.channel_moderators(channel_id=stream.streamer_id)
        return Response({"moderators": [public_user(r.user) for r in rows]})

    @extend_schema(
        request=InputSerializer,
        responses={201: PublicUser, **errors(400, 401, 403, 404)},
        auth=LOGIN_CSRF_AUTH,
        description="Appoint a moderator of the streamer's channel (the owner only).",
    )
    def post(self, request: Request, stream_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.check_add_chat_moderator(
            actor=request.user, stream_id=stream_id, **data.validated_data
        )
        return Response(public_user(user), status=201)


class ChatModeratorApi(APIView):
    @extend_schema(
        request=None, responses={204: None, **errors(401, 403, 404)}, auth=LOGIN_CSRF_AUTH
    )
    def delete(self, request: Request, stream_id: int, user_id: int) -> Response:
        services.check_remove_chat_moderator(
            actor=request.user, stream_id=stream_id, user_id=user_id
        )
        return Response(status=204)
