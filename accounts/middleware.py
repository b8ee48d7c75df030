"""Sessions of suspended or deleted accounts stop working at once (SPEC §5)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from core.api import json_error
from core.middleware import HybridMiddleware

# API calls a locked-out session may still make: leave it, or log in as someone else.
_API_ALLOWED = ("/api/auth/logout", "/api/auth/login", "/api/auth/csrf", "/api/auth/signup")

ACCOUNT_INACTIVE_MESSAGE = "This account is suspended or deleted."


def _refusal(request: HttpRequest) -> HttpResponse | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.account_is_active:
        return None
    path = request.path
    if path.startswith("/api/"):
        if path.rstrip("/") in _API_ALLOWED:
            return None
        return json_error("account_inactive", ACCOUNT_INACTIVE_MESSAGE, 403)
    # Pages and the admin: the session ends here; the login page says why it failed.
    logout(request)
    return None


class AccountStatusMiddleware(HybridMiddleware):
    """After ``AuthenticationMiddleware``: API calls of an inactive account's session
    get ``403 account_inactive``; a page request ends the session."""

    def handle(self, request: HttpRequest) -> Any:
        refused = _refusal(request) if _has_session_user(request) else None
        return refused or self.get_response(request)

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        if _has_session_user(request):
            refused = await sync_to_async(_refusal)(request)
            if refused is not None:
                return refused
        return await self.get_response(request)


def _has_session_user(request: HttpRequest) -> bool:
    """Whether the request carries a session at all (no database work without one)."""
    session = getattr(request, "session", None)
    return bool(session is not None and session.session_key)
