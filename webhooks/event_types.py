"""The webhook events and their ``data`` (SPEC §7a): the wire format lives here.

Every delivery's body is ``{"id", "type", "created_at", "data"}``; ``data`` is the
object the event is about, with public-safe fields only (no stream keys, emails,
payment ids or overlay tokens). Money is a decimal string in major units ("500.00"),
times are ISO 8601 in UTC.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings

from donations.selectors import public_display_name

if TYPE_CHECKING:
    from donations.models import StreamDonation
    from streams.models import LiveStream

STREAM_ONLINE = "stream.online"
STREAM_OFFLINE = "stream.offline"
DONATION_COMPLETED = "donation.completed"
DONATION_REFUNDED = "donation.refunded"
# What a subscription may ask for.
EVENT_TYPES = (STREAM_ONLINE, STREAM_OFFLINE, DONATION_COMPLETED, DONATION_REFUNDED)
# Sent only by "Send test event" (POST /api/me/webhooks/{id}/test), to that subscription.
TEST = "webhook.test"
ALL_TYPES = (*EVENT_TYPES, TEST)


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str:
    return f"{value or Decimal('0'):.2f}"


def stream_data(stream: LiveStream) -> dict[str, Any]:
    """``stream.online`` / ``stream.offline``. Precondition: ``stream.streamer`` is
    loaded (the services lock the stream with ``select_related("streamer")``)."""
    streamer = stream.streamer
    return {
        "id": stream.id,
        "title": stream.title,
        "status": stream.status,
        "streamer": {
            "id": streamer.id,
            "username": streamer.username,
            "display_name": streamer.display_name or streamer.username,
        },
        "actual_start": _iso(stream.actual_start),
        "actual_end": _iso(stream.actual_end),
    }


def donation_data(donation: StreamDonation) -> dict[str, Any]:
    """``donation.completed``: the fields of the ``donation`` realtime event, plus the
    stream, the completion time and what was refunded so far (a refund Stripe reported
    before the payment's success is already in ``amount_refunded``)."""
    return {
        "id": donation.id,
        "stream_id": donation.stream_id,
        "display_name": public_display_name(donation),
        "amount": _money(donation.amount),
        "amount_refunded": _money(donation.amount_refunded),
        "currency": donation.currency or settings.DONATION_CURRENCY,
        "message": donation.message or "",
        "created_at": _iso(donation.created_at),
        "completed_at": _iso(donation.completed_at),
    }


def refund_data(donation: StreamDonation, *, refund_amount: Decimal) -> dict[str, Any]:
    """``donation.refunded``: ``refund_amount`` is this refund, ``amount_refunded`` the
    total refunded so far; ``fully_refunded`` once it equals ``amount``."""
    return {
        **donation_data(donation),
        "refund_amount": _money(refund_amount),
        "fully_refunded": donation.amount_refunded >= donation.amount,
    }


def test_data(*, subscription_id: int) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "message": "This is a test event from Eldonia-Nex Live. It changes nothing.",
    }


def body(*, event_id: str, event_type: str, created_at: datetime, data: Any) -> bytes:
    """The exact bytes that are signed and sent: the same on every retry."""
    return json.dumps(
        {"id": event_id, "type": event_type, "created_at": created_at.isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
