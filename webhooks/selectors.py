"""Reads of webhooks and their wire shapes: the secret is in none of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webhooks.models import WebhookDelivery, WebhookSubscription

DELIVERY_PAGE_DEFAULT = 20
DELIVERY_PAGE_MAX = 100


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def subscriptions_of(owner_id: int) -> list[WebhookSubscription]:
    return list(WebhookSubscription.objects.filter(owner_id=owner_id).order_by("id"))


def subscription_payload(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": list(subscription.events),
        "active": subscription.active,
        "created_at": _iso(subscription.created_at),
    }


def delivery_payload(delivery: WebhookDelivery) -> dict[str, Any]:
    """One row of the delivery log. ``next_attempt_at`` only while it is pending."""
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "type": delivery.event_type,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "last_attempt_at": _iso(delivery.last_attempt_at),
        "next_attempt_at": _iso(delivery.next_attempt_at) if delivery.state == "pending" else None,
        "delivered_at": _iso(delivery.delivered_at),
        "given_up_at": _iso(delivery.given_up_at),
        "created_at": _iso(delivery.created_at),
    }


def delivery_page(
    *, subscription_id: int, before: int | None, limit: int
) -> tuple[list[WebhookDelivery], int | None]:
    """Latest first; ``before`` is the smallest ``id`` of the previous page. Returns the
    rows and the ``before`` of the next page (``None`` on the last)."""
    rows = WebhookDelivery.objects.filter(subscription_id=subscription_id).order_by("-id")
    if before is not None:
        rows = rows.filter(id__lt=before)
    page = list(rows[: limit + 1])
    if len(page) > limit:
        return page[:limit], page[limit - 1].id
    return page, None
