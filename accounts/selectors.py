"""Reads of account data other apps need."""

from __future__ import annotations

from django.db.models import Q

from accounts.models import User


def account_is_active(user_id: int) -> bool:
    """``User.account_is_active`` read fresh from the database (a long-lived socket
    re-checks it: the platform may suspend the account at any moment)."""
    return (
        User.objects.filter(id=user_id, is_active=True)
        .filter(Q(account_status=User.AccountStatus.ACTIVE) | Q(account_status__isnull=True))
        .exists()
    )
