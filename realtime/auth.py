"""Who is on the other end of a socket.

The handshake's ``Origin`` is checked by ``AllowedHostsOriginValidator`` and the
session cookie is resolved by ``AuthMiddlewareStack`` (both in ``config/asgi.py``);
consumers only ask these helpers.
"""

from __future__ import annotations

from typing import Any


def socket_user(scope: dict[str, Any]) -> Any | None:
    """The logged-in, active user of the socket, or ``None``."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not getattr(user, "is_active", True):
        return None
    return user
