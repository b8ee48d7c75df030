"""Reads of donations and overlay tokens that other modules (and consumers) need."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce

from donations.models import OverlayToken, StreamDonation
from realtime import event_types

ANONYMOUS = "Anonymous"
# An overlay that was offline for long gets at most this many alerts on reconnect.
OVERLAY_REPLAY_LIMIT = 100


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def overlay_user_id_for_token(token: str) -> int | None:
    """The streamer an overlay token belongs to, or ``None``.

    Looked up by the token's SHA-256 digest (so the index lookup leaks nothing useful
    about the token), then compared in constant time.
    """
    if not token or len(token) > 100:
        return None
    row = (
        OverlayToken.objects.filter(token_digest=token_digest(token))
        .values("user_id", "token")
        .first()
    )
    if row is None or not hmac.compare_digest(row["token"].encode(), token.encode()):
        return None
    return row["user_id"]


def public_display_name(donation: StreamDonation) -> str:
    if donation.is_anonymous:
        return ANONYMOUS
    return donation.display_name or ANONYMOUS


def donation_event(donation: StreamDonation, *, replay: bool = False) -> dict[str, Any]:
    return event_types.donation(
        id=donation.id,
        display_name=public_display_name(donation),
        amount=f"{donation.amount:.2f}",
        currency=donation.currency or settings.DONATION_CURRENCY,
        message=donation.message or "",
        created_at=donation.created_at.isoformat() if donation.created_at else "",
        replay=replay,
    )


def overlay_replay_events(*, streamer_id: int, since: int) -> list[dict[str, Any]]:
    """Completed donations of the streamer that the overlay has not seen, oldest first.

    "After ``since``" means: a higher id, or completed later than donation ``since``
    was (a slow payment may complete after a newer donation). Overlays drop ids they
    already showed, so the overlap costs nothing.
    """
    completed = StreamDonation.objects.filter(
        stream__streamer_id=streamer_id,
        payment_status=StreamDonation.PaymentStatus.COMPLETED,
        completed_at__isnull=False,
    )
    condition = Q(id__gt=since)
    anchor = (
        StreamDonation.objects.filter(id=since, stream__streamer_id=streamer_id)
        .values_list("completed_at", flat=True)
        .first()
    )
    if anchor is not None:
        condition |= Q(completed_at__gt=anchor)
    rows = completed.filter(condition).exclude(id=since).order_by("completed_at", "id")
    return [donation_event(d) for d in rows[:OVERLAY_REPLAY_LIMIT]]


def counted_total_sql() -> str:
    """What ``live_streams.total_donations`` must equal: completed minus refunded."""
    return (
        "SELECT COALESCE(SUM(d.amount - COALESCE(d.amount_refunded, 0)), 0)"
        " FROM stream_donations d WHERE d.stream_id = %s"
        " AND d.payment_status IN ('completed', 'refunded')"
        " AND d.completed_at IS NOT NULL AND d.flag_reason IS NULL"
    )


def donation_for_owner(donation_id: int) -> StreamDonation | None:
    return StreamDonation.objects.select_related("stream").filter(id=donation_id).first()


def donation_summary(stream_id: int) -> dict[str, Any]:
    """``{count, total}`` of a stream's counted donations (for stream stats):
    completed ones, net of partial refunds; fully refunded ones are not counted."""
    net = ExpressionWrapper(
        F("amount") - F("amount_refunded"),
        output_field=DecimalField(max_digits=10, decimal_places=2),
    )
    row = StreamDonation.objects.filter(
        stream_id=stream_id,
        payment_status=StreamDonation.PaymentStatus.COMPLETED,
        completed_at__isnull=False,
        flag_reason__isnull=True,
    ).aggregate(count=Count("id"), total=Coalesce(Sum(net), Decimal("0.00")))
    return {"count": row["count"], "total": f"{row['total']:.2f}"}


# The donations an owner sees in the dashboard list: paid ones (completed or
# refunded) and flagged ones; never pending or failed attempts.
OWNER_LIST_STATUSES = (
    StreamDonation.PaymentStatus.COMPLETED,
    StreamDonation.PaymentStatus.REFUNDED,
)


def stream_donations_for_owner(stream_id: int):
    """A stream's completed, refunded and flagged donations, newest first."""
    return StreamDonation.objects.filter(
        Q(payment_status__in=OWNER_LIST_STATUSES) | Q(flag_reason__isnull=False),
        stream_id=stream_id,
    ).order_by("-created_at", "-id")


def owner_donation_payload(donation: StreamDonation) -> dict[str, Any]:
    """One row of ``GET /api/streams/{id}/donations``: no email, no payment ids."""
    return {
        "id": donation.id,
        "display_name": public_display_name(donation),
        "amount": f"{donation.amount:.2f}",
        "amount_refunded": f"{donation.amount_refunded or 0:.2f}",
        "currency": donation.currency or settings.DONATION_CURRENCY,
        "message": donation.message or "",
        "status": donation.payment_status,
        "flag_reason": donation.flag_reason,
        "created_at": donation.created_at.isoformat() if donation.created_at else None,
        "completed_at": donation.completed_at.isoformat() if donation.completed_at else None,
    }
