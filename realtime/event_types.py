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


def ingest(connected: bool) -> dict[str, Any]:
    """Dashboard only: whether the ingest server currently has a publisher (OBS)."""
    return {"type": "ingest", "connected": connected}


def donation(
    *,
    id: int | str,
    display_name: str,
    amount: str,
    currency: str,
    message: str,
    created_at: str,
    test: bool = False,
    replay: bool = False,
) -> dict[str, Any]:
    """``donation {id, display_name, amount, currency, message, created_at}`` (SPEC §7).

    ``amount`` is a decimal string in major units ("500.00"). Test alerts carry
    ``test: true`` and a non-numeric id; an owner's re-sent alert carries
    ``replay: true`` (overlays show it again even though they saw the id).
    """
    event: dict[str, Any] = {
        "type": "donation",
        "id": id,
        "display_name": display_name,
        "amount": amount,
        "currency": currency,
        "message": message,
        "created_at": created_at,
    }
    if test:
        event["test"] = True
    if replay:
        event["replay"] = True
    return event


def goal(
    *,
    stream_id: int | None,
    title: str | None,
    amount: str | None,
    raised: str | None,
    currency: str,
    version: int,
    sync: bool = False,
) -> dict[str, Any]:
    """``goal {title, amount, raised}`` (SPEC §7): a stream's donation goal changed.

    Money is a decimal string ("1500.00"); a cleared goal has ``title``, ``amount``
    and ``raised`` null. ``version`` grows with every change of the stream's goal:
    a client drops an event whose version is not above the one it shows. Overlays
    (one per streamer, not per stream) ask for their current goal with a
    ``goal.sync`` frame; the answer carries ``sync: true`` (``stream_id`` null and
    version 0 when no goal is running).
    """
    event: dict[str, Any] = {
        "type": "goal",
        "stream_id": stream_id,
        "title": title,
        "amount": amount,
        "raised": raised,
        "currency": currency,
        "version": version,
    }
    if sync:
        event["sync"] = True
    return event


def exp(*, gained: int, total_exp: int, current_level: int) -> dict[str, Any]:
    """Dashboard only: the streamer earned EXP (a level-up shows in ``current_level``)."""
    return {
        "type": "exp",
        "gained": gained,
        "total_exp": total_exp,
        "current_level": current_level,
    }


def achievement(
    *,
    code: str,
    name: str,
    description: str,
    rarity: str,
    badge_color: str | None,
    progress: int,
    completed_at: str,
) -> dict[str, Any]:
    """Dashboard only: the streamer unlocked an achievement (sent once per unlock)."""
    return {
        "type": "achievement",
        "code": code,
        "name": name,
        "description": description,
        "rarity": rarity,
        "badge_color": badge_color,
        "progress": progress,
        "completed_at": completed_at,
    }


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
