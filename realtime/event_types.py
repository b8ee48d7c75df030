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
