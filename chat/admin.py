"""Chat in the admin: mostly to look at, because open rooms must hear every change.

- Messages are read-only; "Hide selected messages" hides them as a moderator would
  (``do_delete_chat_message``: ``deleted_at`` set, ``chat.message_deleted`` sent).
- Bans (issued from the chat, which tells the rooms) can be looked at and lifted:
  deleting one also refreshes the join snapshots of the channel's open streams, as
  ``check_unban_chat_user`` does.
- Moderators can be looked at and removed (a plain delete, as in the chat API).
- Slow mode can be changed; the change goes through ``do_set_chat_settings``, which
  broadcasts ``chat.settings``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from chat.models import ChatBan, ChatMessage, ChatModerator, ChatSettings
from chat.services import MAX_SLOW_MODE_SECONDS, do_delete_chat_message, do_set_chat_settings
from realtime.events import invalidate_snapshots_on_commit
from streams.models import LiveStream


class ReadOnlyAdmin(admin.ModelAdmin):
    """Listed and viewable; never added or edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "stream", "user", "text", "created_at", "deleted")
    list_filter = (("deleted_at", admin.EmptyFieldListFilter),)
    search_fields = ("text", "user__username")
    list_select_related = ("stream", "user")
    show_full_result_count = False  # the table grows fast; no COUNT(*) per page
    fields = ("stream", "user", "text", "client_id", "created_at", "deleted_at", "deleted_by")
    actions = ("hide_messages",)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # hide instead: rooms and snapshots learn of it

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("chat.change_chatmessage")

    @admin.display(boolean=True, description="deleted", ordering="deleted_at")
    def deleted(self, message: ChatMessage) -> bool:
        return message.deleted_at is not None

    @admin.action(description="Hide selected messages (as a moderator)", permissions=["moderate"])
    def hide_messages(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        hidden = 0
        for message in queryset.filter(deleted_at__isnull=True):
            do_delete_chat_message(actor=request.user, message=message)
            hidden += 1
        self.message_user(request, f"Hid {hidden} message(s).")


def _open_streams_of(channel_ids: set[int]) -> list[int]:
    return list(
        LiveStream.objects.filter(
            Q(status__in=[LiveStream.Status.SCHEDULED, LiveStream.Status.LIVE])
            | Q(status__isnull=True),
            streamer_id__in=channel_ids,
        ).values_list("id", flat=True)
    )


@admin.register(ChatBan)
class ChatBanAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "user", "until", "reason", "created_by", "created_at")
    list_filter = (("until", admin.EmptyFieldListFilter),)  # empty: a permanent ban
    search_fields = ("channel__username", "user__username", "reason")
    list_select_related = ("channel", "user", "created_by")
    fields = ("channel", "user", "until", "reason", "created_by", "created_at")

    def delete_model(self, request: HttpRequest, obj: ChatBan) -> None:
        self.delete_queryset(request, ChatBan.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChatBan]) -> None:
        """Lift the bans; a lifted permanent ban shows the user's messages again."""
        with transaction.atomic():
            channel_ids = set(queryset.values_list("channel_id", flat=True))
            queryset.delete()
            invalidate_snapshots_on_commit(_open_streams_of(channel_ids))


@admin.register(ChatModerator)
class ChatModeratorAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "user", "created_at")
    search_fields = ("channel__username", "user__username")
    list_select_related = ("channel", "user")
    fields = ("channel", "user", "created_at")


class ChatSettingsForm(forms.ModelForm):
    slow_mode_seconds = forms.IntegerField(min_value=0, max_value=MAX_SLOW_MODE_SECONDS)

    class Meta:
        model = ChatSettings
        fields = ("slow_mode_seconds",)


@admin.register(ChatSettings)
class ChatSettingsAdmin(admin.ModelAdmin):
    form = ChatSettingsForm
    list_display = ("stream", "slow_mode_seconds", "updated_at")
    list_select_related = ("stream",)
    search_fields = ("stream__title", "stream__streamer__username")
    fields = ("stream", "slow_mode_seconds", "updated_at")
    readonly_fields = ("stream", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ChatSettings, form, change: bool) -> None:
        do_set_chat_settings(stream=obj.stream, slow_mode_seconds=obj.slow_mode_seconds)
