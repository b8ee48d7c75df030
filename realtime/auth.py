"""Who is on the other end of a socket.

The handshake's ``Origin`` is checked by ``realtime.origin.OriginValidator`` and the
session cookie is resolved by ``SessionUserMiddleware`` (both in ``config/asgi.py``);
sockets only ask ``socket_user``.

A socket without a session cookie (every anonymous viewer) is resolved without any
database work or thread hop. A socket with one loads its session and user on the
shared thread pool (``thread_sensitive=False``), so logged-in joins run side by side
instead of queueing behind each other on one thread.
"""

from __future__ import annotations

import types
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie

from realtime.sockets import db_call


def socket_user(scope: dict[str, Any]) -> Any | None:
    """The logged-in, active user of the socket, or ``None``."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not getattr(user, "is_active", True):
        return None
    return user


def session_key_of(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            key = parse_cookie(value.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
            if key and len(key) <= 64 and key.isalnum():
                return key
            return None
    return None


def _load_user(session_key: str) -> Any:
    """Django's own session and auth rules (hash check, key fallbacks, backends)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user(types.SimpleNamespace(session=store))


_load_user_async = db_call(_load_user)


class SessionUserMiddleware:
    """Sets ``scope["user"]`` from the session cookie (AnonymousUser without one)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key = session_key_of(scope)
        user = await _load_user_async(key) if key else AnonymousUser()
        return await self.app({**scope, "user": user}, receive, send)
