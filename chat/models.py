"""Chat tables (the project's own, SPEC §3): messages, channel bans, moderators, settings.

Bans and moderators belong to the streamer's *channel* (the streamer user), so they
hold in all of that streamer's streams. Slow mode is a per-stream setting.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Length, Now
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from streams.models import LiveStream

MAX_MESSAGE_LENGTH = 500


class ChatMessage(models.Model):
    stream = models.ForeignKey(LiveStream, on_delete=models.CASCADE, related_name="chat_messages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    text = models.CharField(max_length=MAX_MESSAGE_LENGTH)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "chat_messages"
        indexes = [models.Index(fields=["stream", "-id"], name="idx_chat_messages_stream_id")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(GreaterThanOrEqual(Length("text"), 1))
                & models.Q(LessThanOrEqual(Length("text"), MAX_MESSAGE_LENGTH)),
                name="chat_messages_text_length_check",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.user_id}: {self.text[:30]}"


class ChatBan(models.Model):
    """A ban (``until`` null) or timeout of ``user`` in ``channel``'s chat."""

    channel = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_bans_issued"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_bans"
    )
    until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True, default="", db_default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "chat_bans"
        constraints = [
            models.UniqueConstraint(fields=["channel", "user"], name="chat_bans_channel_user_uniq"),
        ]

    def __str__(self) -> str:
        return f"ban {self.user_id} in {self.channel_id} until {self.until or 'forever'}"


class ChatModerator(models.Model):
    channel = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_moderators"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_moderating"
    )
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "chat_moderators"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "user"], name="chat_moderators_channel_user_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"moderator {self.user_id} of {self.channel_id}"


class ChatSettings(models.Model):
    stream = models.OneToOneField(
        LiveStream, on_delete=models.CASCADE, primary_key=True, related_name="chat_settings"
    )
    slow_mode_seconds = models.PositiveIntegerField(default=0, db_default=0)
    updated_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "chat_settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(slow_mode_seconds__lte=3600),
                name="chat_settings_slow_mode_check",
            ),
        ]

    def __str__(self) -> str:
        return f"chat settings of stream {self.stream_id}"
