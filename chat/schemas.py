"""OpenAPI shapes of the chat payloads (``chat.serializers``), for the schema only."""

from __future__ import annotations

from rest_framework import serializers

from accounts.schemas import PublicUser


class ChatMessage(serializers.Serializer):
    """``chat.serializers.chat_message_payload``."""

    id = serializers.IntegerField()
    user = PublicUser()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class ChatMessagePage(serializers.Serializer):
    messages = ChatMessage(many=True, help_text="Newest first.")
    has_more = serializers.BooleanField(
        help_text="Older messages may exist: ask again with `before=<last id>`."
    )


class ChatBan(serializers.Serializer):
    """``chat.serializers.chat_ban_payload``."""

    user_id = serializers.IntegerField()
    until = serializers.DateTimeField(allow_null=True, help_text="null: permanent.")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)


class ChatBanList(serializers.Serializer):
    bans = ChatBan(many=True, help_text="The channel's bans, newest first.")


class ChatSettings(serializers.Serializer):
    slow_mode_seconds = serializers.IntegerField(help_text="0: slow mode off.")


class ChatModeratorList(serializers.Serializer):
    moderators = PublicUser(many=True, help_text="In the order they were appointed.")
