"""Reads of streams that other modules need."""

from __future__ import annotations

from django.conf import settings

from streams.models import LiveStream


def get_stream(stream_id: int) -> LiveStream | None:
    # "goal": the public payload's goal comes in the same query (the join snapshot).
    return LiveStream.objects.select_related("streamer", "goal").filter(id=stream_id).first()


def list_streams(*, status: str | None = None, streamer_id: int | None = None):
    """Public listing, newest first (live streams: most recently started first)."""
    qs = LiveStream.objects.select_related("streamer", "goal")  # no query per stream
    if status:
        qs = qs.filter(status=status)
    if streamer_id is not None:
        qs = qs.filter(streamer_id=streamer_id)
    if status == LiveStream.Status.LIVE:
        return qs.order_by("-actual_start", "-id")
    return qs.order_by("-created_at", "-id")


def stream_stats(stream: LiveStream, *, now=None) -> dict:
    """What the owner sees after (or during) a stream (SPEC §5 stats; the dashboard
    shows this too).

    The donation figures follow the one rule ``live_streams.total_donations`` follows
    (``donations.selectors.counted_total_sql``, kept by the webhook and the reconcile
    job): completed, ``completed_at`` set, not flagged, net of refunds.
    ``donation_count`` counts the donations the stream kept: partially refunded ones
    included, fully refunded or flagged ones not.
    """
    from django.db.models import Sum
    from django.utils import timezone

    from chat.selectors import message_count  # chat's selectors import this module
    from donations.selectors import donation_summary
    from gamification.models import UserExpLog

    now = now or timezone.now()
    duration = 0
    if stream.actual_start is not None:
        end = stream.actual_end or now
        duration = max(0, int((end - stream.actual_start).total_seconds()))
    donations = donation_summary(stream.id)
    exp = UserExpLog.objects.filter(
        user_id=stream.streamer_id, reference_type="live_stream", reference_id=stream.id
    ).aggregate(total=Sum("exp_gained"))
    return {
        "stream_id": stream.id,
        "status": stream.status,
        "duration_seconds": duration,
        "peak_viewers": stream.max_viewers or 0,
        "donation_total": donations["total"],
        "donation_count": donations["count"],
        "currency": settings.DONATION_CURRENCY,
        "chat_message_count": message_count(stream.id),
        "exp_earned": exp["total"] or 0,
    }
