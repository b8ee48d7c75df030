"""Every server → client event type has exactly the SPEC §7 shape."""

from __future__ import annotations

from realtime import event_types

MESSAGE = {
    "id": 7,
    "user": {"id": 3, "username": "kai", "display_name": "Kai", "current_level": 2},
    "text": "hi",
    "created_at": "2026-11-27T16:00:00+00:00",
}


def test_stream_state_shape():
    assert event_types.stream_state({"id": 1}) == {"type": "stream.state", "stream": {"id": 1}}


def test_chat_history_shape():
    assert event_types.chat_history([MESSAGE]) == {"type": "chat.history", "messages": [MESSAGE]}


def test_chat_message_shape_with_and_without_client_id():
    assert event_types.chat_message(MESSAGE) == {"type": "chat.message", **MESSAGE}
    assert event_types.chat_message(MESSAGE, "tmp-1") == {
        "type": "chat.message",
        **MESSAGE,
        "client_id": "tmp-1",
    }


def test_chat_message_deleted_shape():
    assert event_types.chat_message_deleted(7) == {"type": "chat.message_deleted", "id": 7}


def test_chat_user_banned_shape():
    assert event_types.chat_user_banned(3, None) == {
        "type": "chat.user_banned",
        "user_id": 3,
        "until": None,
    }
    assert event_types.chat_user_banned(3, "2026-11-27T16:10:00+00:00")["until"] == (
        "2026-11-27T16:10:00+00:00"
    )


def test_chat_settings_shape():
    assert event_types.chat_settings(30) == {"type": "chat.settings", "slow_mode_seconds": 30}


def test_viewers_shape():
    assert event_types.viewers(4, 9) == {"type": "viewers", "count": 4, "peak": 9}


def test_error_shape_with_and_without_retry_after():
    assert event_types.error("invalid_json", "Bad.") == {
        "type": "error",
        "code": "invalid_json",
        "message": "Bad.",
    }
    assert event_types.error("rate_limited", "Slow down.", 12) == {
        "type": "error",
        "code": "rate_limited",
        "message": "Slow down.",
        "retry_after": 12,
    }


def test_pong_shape():
    assert event_types.pong() == {"type": "pong"}
