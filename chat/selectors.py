"""Reads of chat data that consumers, APIs and other apps need."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import QuerySet

from chat.models import ChatBan, ChatMessage, ChatModerator
from chat.serializers import chat_message_payload
from realtime.snapshots import RECOVERY_SIZE
from streams.models import LiveStream
from streams.selectors import get_stream
from streams.serializers import public_stream

HISTORY_SIZE = 50
# Chat recovery (SPEC §7): a reconnect with ``since`` gets every visible message after
# it when they are at most RECOVERY_SIZE messages or within RECOVERY_WINDOW (up to
# RECOVERY_MAX_MESSAGES): from the Redis snapshot when it vouches, else the database.
RECOVERY_WINDOW = timedelta(minutes=10)
RECOVERY_MAX_MESSAGES = 3000
OPEN_STATUSES = (LiveStream.Status.SCHEDULED, LiveStream.Status.LIVE, None)


def chat_is_open(status: str | None) -> bool:
    """Chat is open while ``scheduled`` or ``live`` and read-only afterwards."""
    return status in OPEN_STATUSES


class ChatRoomAccess(NamedTuple):
    status: str | None
    streamer_id: int
    slow_mode_seconds: int
    is_moderator: bool
    is_banned: bool
    banned_until: datetime | None
    account_active: bool


_ROOM_ACCESS_SQL = """
SELECT s.status, s.streamer_id, COALESCE(cs.slow_mode_seconds, 0),
       EXISTS (SELECT 1 FROM chat_moderators m
               WHERE m.channel_id = s.streamer_id AND m.user_id = %(user)s),
       b.user_id IS NOT NULL, b.until,
       EXISTS (SELECT 1 FROM users u WHERE u.id = %(user)s AND u.is_active
               AND COALESCE(u.account_status, 'active') = 'active')
FROM live_streams s
LEFT JOIN chat_settings cs ON cs.stream_id = s.id
LEFT JOIN LATERAL (
    SELECT cb.user_id, cb.until FROM chat_bans cb
    WHERE cb.channel_id = s.streamer_id AND cb.user_id = %(user)s
      AND (cb.until IS NULL OR cb.until > %(now)s)
    ORDER BY cb.until DESC NULLS FIRST LIMIT 1
) b ON TRUE
WHERE s.id = %(stream)s
"""


def chat_room_access(*, stream_id: int, user_id: int, now: datetime) -> ChatRoomAccess | None:
    """What deciding on one chat message needs, in one query (the chat hot path):
    the stream's status and owner, its slow mode, whether the user moderates or is
    banned (``banned_until`` None for a permanent ban) in the streamer's channel, and
    whether the user's account is still active (it may be suspended mid-session)."""
    with connection.cursor() as cursor:
        cursor.execute(_ROOM_ACCESS_SQL, {"user": user_id, "now": now, "stream": stream_id})
        row = cursor.fetchone()
    return None if row is None else ChatRoomAccess(*row)


def visible_messages(*, stream_id: int, channel_id: int) -> QuerySet[ChatMessage]:
    """Messages everyone may see: not deleted, author not permanently banned."""
    banned = ChatBan.objects.filter(channel_id=channel_id, until__isnull=True).values("user_id")
    return (
        ChatMessage.objects.filter(stream_id=stream_id, deleted_at__isnull=True)
        .exclude(user_id__in=banned)
        .select_related("user")
    )


def recent_history(*, stream_id: int, channel_id: int, limit: int = HISTORY_SIZE) -> list[dict]:
    """The last ``limit`` visible messages, oldest first."""
    newest_first = list(
        visible_messages(stream_id=stream_id, channel_id=channel_id).order_by("-id")[:limit]
    )
    return [chat_message_payload(m) for m in reversed(newest_first)]


def message_page(
    *, stream_id: int, channel_id: int, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Visible messages older than ``before`` (all if ``None``), newest first."""
    qs = visible_messages(stream_id=stream_id, channel_id=channel_id)
    if before is not None:
        qs = qs.filter(id__lt=before)
    return [chat_message_payload(m) for m in qs.order_by("-id")[:limit]]


def message_count(stream_id: int) -> int:
    """Chat messages of a stream that were not deleted (for stream stats)."""
    return ChatMessage.objects.filter(stream_id=stream_id, deleted_at__isnull=True).count()


def channel_bans(*, channel_id: int) -> QuerySet[ChatBan]:
    """Bans and timeouts of a streamer's channel, newest first."""
    return ChatBan.objects.filter(channel_id=channel_id).order_by("-created_at")


def channel_moderators(*, channel_id: int) -> QuerySet[ChatModerator]:
    """Moderators a streamer appointed, in the order they were appointed."""
    return ChatModerator.objects.filter(channel_id=channel_id).select_related("user").order_by("id")


def is_moderator(*, channel_id: int, user_id: int) -> bool:
    return ChatModerator.objects.filter(channel_id=channel_id, user_id=user_id).exists()


def room_snapshot_data(stream_id: int) -> tuple[dict[str, Any] | None, list[dict]]:
    """What a socket gets on connect, as ``realtime.snapshots`` caches it: the public
    stream (``viewer_count`` is filled per join from presence) and the chat history;
    ``(None, [])`` for an unknown stream. Two queries."""
    stream = get_stream(stream_id)
    if stream is None:
        return None, []
    payload = public_stream(stream, viewer_count=0)
    # One more than a join shows: fewer means these are all the stream has, which chat
    # recovery can then vouch for from the cache.
    history = recent_history(
        stream_id=stream.id, channel_id=stream.streamer_id, limit=HISTORY_SIZE + 1
    )
    return payload, history


def recover_after(*, stream_id: int, since: int, now: datetime) -> list[dict] | None:
    """Chat recovery beyond what the cache vouches for (SPEC §7): the visible messages
    after message ``since``, oldest first, when they are at most ``RECOVERY_SIZE``
    messages or message ``since`` is at most ``RECOVERY_WINDOW`` old; ``None`` when
    they cannot be recovered (older and more, unknown id, or more than
    ``RECOVERY_MAX_MESSAGES``)."""
    stream = get_stream(stream_id)
    if stream is None:
        return None
    anchor = (
        ChatMessage.objects.filter(id=since, stream_id=stream_id)
        .values_list("created_at", flat=True)
        .first()
    )
    if anchor is None:
        return None
    recent = anchor >= now - RECOVERY_WINDOW
    limit = RECOVERY_MAX_MESSAGES if recent else RECOVERY_SIZE
    after = list(
        visible_messages(stream_id=stream_id, channel_id=stream.streamer_id)
        .filter(id__gt=since)
        .order_by("id")[: limit + 1]
    )
    if len(after) > limit:
        return None
    return [chat_message_payload(m) for m in after]
