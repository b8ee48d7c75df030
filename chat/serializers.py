"""Wire shape of a chat message (SPEC §7 ``chat.message`` body, REST history items)."""

from __future__ import annotations

from typing import Any

from accounts.serializers import public_user
from chat.models import ChatMessage


def chat_message_payload(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "user": public_user(message.user),
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }


def chat_ban_payload(ban) -> dict[str, Any]:
    return {
        "user_id": ban.user_id,
        "until": ban.until.isoformat() if ban.until else None,
        "reason": ban.reason or "",
        "created_at": ban.created_at.isoformat() if ban.created_at else None,
    }
