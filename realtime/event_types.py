"""Server → client event shapes (SPEC §7). One builder per type; the wire format lives here."""

from __future__ import annotations

from typing import Any


def stream_state(stream: dict[str, Any]) -> dict[str, Any]:
    return {"type": "stream.state", "stream": stream}


def error(code: str, message: str, retry_after: int | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if retry_after is not None:
        event["retry_after"] = retry_after
    return event


def pong() -> dict[str, Any]:
    return {"type": "pong"}


# --------------------------------------------------------------------------- chat and viewers
# A chat message object (``chat.history`` items, ``chat.message`` body):
# ``{id, user {id, username, display_name, current_level}, text, created_at}``;
# the live event may add the sender's ``client_id``. Domain apps build the object
# (chat/serializers.py); these builders only fix the envelope.


def chat_message(message: dict[str, Any], client_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "chat.message",
        "id": message["id"],
        "user": message["user"],
        "text": message["text"],
        "created_at": message["created_at"],
    }
    if client_id is not None:
        event["client_id"] = client_id
    return event


def chat_history(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The last messages, oldest first."""
    return {"type": "chat.history", "messages": messages}


def chat_message_deleted(message_id: int) -> dict[str, Any]:
    return {"type": "chat.message_deleted", "id": message_id}


def chat_user_banned(user_id: int, until: str | None) -> dict[str, Any]:
    """``until`` is an ISO timestamp for a timeout, ``None`` for a permanent ban."""
    return {"type": "chat.user_banned", "user_id": user_id, "until": until}


def chat_settings(slow_mode_seconds: int) -> dict[str, Any]:
    return {"type": "chat.settings", "slow_mode_seconds": slow_mode_seconds}


def viewers(count: int, peak: int) -> dict[str, Any]:
    return {"type": "viewers", "count": count, "peak": peak}
