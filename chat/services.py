"""Every chat state change (CONVENTIONS: ``check_*`` validates, ``do_*`` writes).

Events go out after commit through ``send_event_on_commit`` to the stream's room and
its dashboard. Redis (rate limits) is touched before the transaction, never inside.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from chat import throttle
from chat.models import MAX_MESSAGE_LENGTH, ChatBan, ChatMessage, ChatModerator, ChatSettings
from chat.selectors import chat_is_open, chat_room_access
from chat.serializers import chat_message_payload
from core.exceptions import (
    ApplicationError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from core.metrics import CHAT_MESSAGES
from realtime import event_types, groups
from realtime.events import invalidate_snapshots_on_commit, send_event_on_commit
from streams.models import LiveStream

MAX_CLIENT_ID_LENGTH = 64
MAX_SLOW_MODE_SECONDS = 3600
MAX_BAN_SECONDS = 365 * 24 * 3600

# Bidirectional overrides/isolates can reorder the text around a message.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _room_groups(stream_id: int) -> list[str]:
    return [groups.stream_room(stream_id), groups.stream_dashboard(stream_id)]


def normalize_text(text: str) -> str:
    """Line breaks and tabs become spaces; other control characters, unpaired
    surrogates and bidi overrides are removed; the result is stripped."""
    out = []
    for ch in text:
        if ch in "\t\n\r\v\f":
            out.append(" ")
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs") or ch in _BIDI_CONTROLS:
            continue
        out.append(ch)
    return "".join(out).strip()


# --------------------------------------------------------------------------- send


def check_send_chat_message(
    *, user: User | None, stream_id: int, text: Any, client_id: Any = None
) -> ChatMessage:
    """Validate a chat message from a socket, then store and broadcast it."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("Log in to chat.")
    if not isinstance(text, str):
        raise ValidationFailed("chat.send needs a string 'text'.", code="invalid_json")
    if client_id is not None and (
        not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH
    ):
        raise ValidationFailed(
            f"client_id must be a string of at most {MAX_CLIENT_ID_LENGTH} characters.",
            code="invalid_json",
        )
    clean = normalize_text(text)
    if not clean:
        raise ValidationFailed("The message is empty.", code="empty_message")
    if len(clean) > MAX_MESSAGE_LENGTH:
        raise ValidationFailed(
            f"Messages are at most {MAX_MESSAGE_LENGTH} characters.", code="message_too_long"
        )

    now = timezone.now()
    room = chat_room_access(stream_id=stream_id, user_id=user.id, now=now)
    if room is None:
        raise NotFound("No such stream.")
    if not room.account_active:
        raise Forbidden("This account is suspended or deleted.", code="account_inactive")
    if not chat_is_open(room.status):
        raise ApplicationError(
            "The stream has ended; chat is read-only.", code="chat_closed", status=409
        )
    if room.is_banned:
        if room.banned_until is None:
            raise Forbidden("You are banned from this chat.", code="banned")
        wait = max(1, int((room.banned_until - now).total_seconds()) + 1)
        raise Forbidden(
            "You are timed out in this chat.", code="banned", extra={"retry_after": wait}
        )
    privileged = room.streamer_id == user.id or room.is_moderator
    refused = throttle.take_chat_slot(
        stream_id=stream_id,
        user_id=user.id,
        privileged=privileged,
        slow_mode_seconds=room.slow_mode_seconds,
    )
    if refused is not None:
        code, retry_after = refused
        message = (
            f"Slow mode: one message every {room.slow_mode_seconds} s."
            if code == "slow_mode"
            else "You are sending messages too fast."
        )
        raise RateLimited(message, retry_after=retry_after, code=code)
    return do_send_chat_message(
        user=user, stream_id=stream_id, text=clean, client_id=client_id, now=now
    )


def do_send_chat_message(
    *, user: User, stream_id: int, text: str, client_id: str | None, now: datetime | None = None
) -> ChatMessage:
    """Store, then broadcast after commit (history and live delivery never disagree).

    One INSERT is its own transaction: outside an enclosing ``atomic`` it commits in
    one round trip (no BEGIN/COMMIT pair on the hot path) and the event goes out right
    after; inside one, after that transaction commits. Plain SQL: this runs for every
    chat message, and the ORM's per-call query building cost more CPU than the rest of
    the send path together (measured with py-spy under bench S2)."""
    created_at = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO chat_messages (stream_id, user_id, text, client_id, created_at) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            [stream_id, user.id, text, client_id, created_at],
        )
        (message_id,) = cursor.fetchone()
    CHAT_MESSAGES.inc()
    message = ChatMessage(
        id=message_id,
        stream_id=stream_id,
        user=user,
        text=text,
        client_id=client_id,
        created_at=created_at,
    )
    send_event_on_commit(
        _room_groups(stream_id),
        event_types.chat_message(chat_message_payload(message), client_id),
    )
    return message


# --------------------------------------------------------------------------- moderation


def access_stream_for_moderation(
    user: User | None, stream_id: int, *, owner_only: bool = False
) -> tuple[LiveStream, bool]:
    """The stream if ``user`` may moderate its chat; returns ``(stream, is_owner)``."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("Log in first.")
    stream = LiveStream.objects.filter(id=stream_id).first()
    if stream is None:
        raise NotFound("No such stream.")
    if stream.streamer_id == user.id:
        return stream, True
    if (
        not owner_only
        and ChatModerator.objects.filter(channel_id=stream.streamer_id, user_id=user.id).exists()
    ):
        return stream, False
    raise Forbidden(
        "Only the streamer can do this."
        if owner_only
        else "Only the streamer and their moderators can do this."
    )


def _target_user(user_id: int) -> User:
    target = User.objects.filter(id=user_id).first()
    if target is None:
        raise NotFound("No such user.")
    return target


def check_delete_chat_message(*, actor: User | None, stream_id: int, message_id: int) -> None:
    stream, _ = access_stream_for_moderation(actor, stream_id)
    message = ChatMessage.objects.filter(id=message_id, stream_id=stream.id).first()
    if message is None:
        raise NotFound("No such message in this stream.")
    do_delete_chat_message(actor=actor, message=message)


def do_delete_chat_message(*, actor: User, message: ChatMessage) -> None:
    """Hide a message from history and from every open socket (idempotent)."""
    with transaction.atomic():
        updated = ChatMessage.objects.filter(id=message.id, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), deleted_by=actor
        )
        if updated:
            send_event_on_commit(
                _room_groups(message.stream_id), event_types.chat_message_deleted(message.id)
            )


def check_ban_chat_user(
    *,
    actor: User | None,
    stream_id: int,
    user_id: int,
    duration_seconds: int | None,
    reason: str = "",
) -> ChatBan:
    stream, is_owner = access_stream_for_moderation(actor, stream_id)
    target = _target_user(user_id)
    if target.id == stream.streamer_id:
        raise Forbidden("The streamer cannot be banned from their own chat.")
    if target.id == actor.id:
        raise ValidationFailed("You cannot ban yourself.")
    if (
        not is_owner
        and ChatModerator.objects.filter(channel_id=stream.streamer_id, user_id=target.id).exists()
    ):
        raise Forbidden("Only the streamer can ban a moderator.")
    if duration_seconds is not None and not (1 <= duration_seconds <= MAX_BAN_SECONDS):
        raise ValidationFailed(
            f"duration_seconds must be 1 to {MAX_BAN_SECONDS}, or null for a permanent ban."
        )
    return do_ban_chat_user(
        actor=actor,
        stream=stream,
        target=target,
        duration_seconds=duration_seconds,
        reason=(reason or "")[:255],
    )


def do_ban_chat_user(
    *,
    actor: User,
    stream: LiveStream,
    target: User,
    duration_seconds: int | None,
    reason: str,
) -> ChatBan:
    """Ban (``duration_seconds`` None) or time out ``target`` in the streamer's channel.

    The ban holds in all of the streamer's streams; every open room of the channel
    hears ``chat.user_banned`` (a permanent ban hides the user's earlier messages).
    """
    until = (
        None if duration_seconds is None else timezone.now() + timedelta(seconds=duration_seconds)
    )
    with transaction.atomic():
        ban, _ = ChatBan.objects.update_or_create(
            channel_id=stream.streamer_id,
            user=target,
            defaults={
                "until": until,
                "reason": reason,
                "created_by": actor,
                "created_at": timezone.now(),
            },
        )
        stream_ids = _open_stream_ids(stream)
        event = event_types.chat_user_banned(target.id, until.isoformat() if until else None)
        send_event_on_commit([g for sid in sorted(stream_ids) for g in _room_groups(sid)], event)
    return ban


def _open_stream_ids(stream: LiveStream) -> set[int]:
    """The streamer's streams whose chat is open (a channel-wide change reaches them)."""
    return set(
        LiveStream.objects.filter(
            Q(status__in=[LiveStream.Status.SCHEDULED, LiveStream.Status.LIVE])
            | Q(status__isnull=True),
            streamer_id=stream.streamer_id,
        ).values_list("id", flat=True)
    ) | {stream.id}


def check_unban_chat_user(*, actor: User | None, stream_id: int, user_id: int) -> None:
    stream, _ = access_stream_for_moderation(actor, stream_id)
    with transaction.atomic():
        deleted, _ = ChatBan.objects.filter(channel_id=stream.streamer_id, user_id=user_id).delete()
        if deleted:
            # A lifted permanent ban shows the user's messages in history again.
            invalidate_snapshots_on_commit(_open_stream_ids(stream))


def check_set_chat_settings(
    *, actor: User | None, stream_id: int, slow_mode_seconds: int
) -> ChatSettings:
    stream, _ = access_stream_for_moderation(actor, stream_id)
    if not (0 <= slow_mode_seconds <= MAX_SLOW_MODE_SECONDS):
        raise ValidationFailed(f"slow_mode_seconds must be between 0 and {MAX_SLOW_MODE_SECONDS}.")
    return do_set_chat_settings(stream=stream, slow_mode_seconds=slow_mode_seconds)


def do_set_chat_settings(*, stream: LiveStream, slow_mode_seconds: int) -> ChatSettings:
    with transaction.atomic():
        chat_settings, _ = ChatSettings.objects.update_or_create(
            stream=stream,
            defaults={"slow_mode_seconds": slow_mode_seconds, "updated_at": timezone.now()},
        )
        send_event_on_commit(_room_groups(stream.id), event_types.chat_settings(slow_mode_seconds))
    return chat_settings


def get_chat_settings(stream_id: int) -> int:
    row = ChatSettings.objects.filter(stream_id=stream_id).first()
    return row.slow_mode_seconds if row else 0


def check_add_chat_moderator(*, actor: User | None, stream_id: int, user_id: int) -> User:
    stream, _ = access_stream_for_moderation(actor, stream_id, owner_only=True)
    target = _target_user(user_id)
    if target.id == stream.streamer_id:
        raise ValidationFailed("The streamer already moderates their own chat.")
    with transaction.atomic():
        ChatModerator.objects.get_or_create(channel_id=stream.streamer_id, user=target)
    return target


def check_remove_chat_moderator(*, actor: User | None, stream_id: int, user_id: int) -> None:
    stream, _ = access_stream_for_moderation(actor, stream_id, owner_only=True)
    with transaction.atomic():
        ChatModerator.objects.filter(channel_id=stream.streamer_id, user_id=user_id).delete()
