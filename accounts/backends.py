"""Authentication that honours ``users.account_status`` (SPEC §5 "Accounts")."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied


class AccountStatusBackend(ModelBackend):
    """A suspended or deleted account cannot log in.

    Its existing sessions still resolve to the user (``get_user`` checks only Django's
    ``is_active``), so every layer can answer it explicitly with ``account_inactive``
    (403, chat error, dashboard close 4403) rather than as a stranger."""

    def authenticate(self, request: Any, username: Any = None, password: Any = None, **kwargs):
        """Authoritative for username and password: a refusal here ends Django's
        ``authenticate`` (``PermissionDenied``), so Django's own ``ModelBackend``, listed
        after this one only to accept sessions the rest of the platform created with it,
        never gets to let a suspended account in (nor hashes the password again)."""
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied
        return user

    def user_can_authenticate(self, user: Any) -> bool:
        return bool(getattr(user, "account_is_active", False))

    def get_user(self, user_id: Any) -> Any:
        UserModel = get_user_model()
        try:
            user = UserModel._default_manager.get(pk=user_id)
        except UserModel.DoesNotExist:
            return None
        return user if super().user_can_authenticate(user) else None
