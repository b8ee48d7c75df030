"""Reads of donations and overlay tokens that other modules (and consumers) need."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, Count, DecimalField, ExpressionWrapper, F, Q, Sum, When
from django.db.models.functions import Coalesce

from donations.models import OverlayToken, StreamDonation, StreamGoal
from realtime import event_types
from streams.models import LiveStream

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


# --------------------------------------------------------------------------- goals


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def public_goal(goal: StreamGoal | None) -> dict[str, Any] | None:
    """The ``goal`` of the public stream payload: ``{title, amount, raised, version}``
    (money as strings), or ``None`` when the stream has no running goal."""
    if goal is None or goal.cleared_at is not None:
        return None
    return {
        "title": goal.title,
        "amount": _money(goal.amount),
        "raised": _money(goal.raised),
        "version": goal.version,
    }


def goal_event(goal: StreamGoal, *, sync: bool = False) -> dict[str, Any]:
    """The ``goal`` event of a goal row (nulls when it was cleared)."""
    running = goal.cleared_at is None
    return event_types.goal(
        stream_id=goal.stream_id,
        title=goal.title if running else None,
        amount=_money(goal.amount) if running else None,
        raised=_money(goal.raised) if running else None,
        currency=settings.DONATION_CURRENCY,
        version=goal.version,
        sync=sync,
    )


def current_goal(streamer_id: int) -> StreamGoal | None:
    """The goal a streamer's goal overlay shows: the running goal of their live
    stream, else of a scheduled one; of several, the one set last. Goals of ended or
    cancelled streams never show."""
    live = LiveStream.Status.LIVE
    return (
        StreamGoal.objects.filter(
            stream__streamer_id=streamer_id,
            stream__status__in=(live, LiveStream.Status.SCHEDULED),
            cleared_at__isnull=True,
        )
        .annotate(is_live=Case(When(stream__status=live, then=1), default=0))
        .order_by("-is_live", "-set_at", "-id")
        .first()
    )


def current_goal_event(streamer_id: int) -> dict[str, Any]:
    """The answer to an overlay's ``goal.sync``: its current goal, or an empty one."""
    goal = current_goal(streamer_id)
    if goal is not None:
        return goal_event(goal, sync=True)
    return event_types.goal(
        stream_id=None,
        title=None,
        amount=None,
        raised=None,
        currency=settings.DONATION_CURRENCY,
        version=0,
        sync=True,
    )


def expected_goal_raised(stream_id: int) -> Decimal | None:
    """What the stream's running goal must show as ``raised``, summed from the
    donations (the rule ``count_toward_goal`` keeps incrementally): counted donations
    (``counted_total_sql``) completed at or after ``set_at``, net of refunds.
    ``None`` when no goal is running."""
    goal = StreamGoal.objects.filter(stream_id=stream_id, cleared_at__isnull=True).first()
    if goal is None:
        return None
    net = ExpressionWrapper(
        F("amount") - Coalesce(F("amount_refunded"), Decimal("0.00")),
        output_field=DecimalField(max_digits=12, decimal_places=2),
    )
    row = StreamDonation.objects.filter(
        stream_id=stream_id,
        payment_status__in=(
            StreamDonation.PaymentStatus.COMPLETED,
            StreamDonation.PaymentStatus.REFUNDED,
        ),
        completed_at__gte=goal.set_at,
        flag_reason__isnull=True,
    ).aggregate(total=Coalesce(Sum(net), Decimal("0.00")))
    return Decimal(row["total"]).quantize(Decimal("0.01"))
