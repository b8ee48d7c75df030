"""Wire shapes of users (SPEC §5)."""

from __future__ import annotations

from typing import Any

from accounts.models import User


def public_user(user: User) -> dict[str, Any]:
    """The streamer / chat author object every client may see."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name or user.username,
        "current_level": user.current_level or 1,
    }


def private_user(user: User) -> dict[str, Any]:
    """The logged-in user's own view (``/api/auth/me``)."""
    return {
        **public_user(user),
        "email": user.email,
        "total_exp": user.total_exp or 0,
        "date_joined": user.date_joined.isoformat() if user.date_joined else None,
    }
