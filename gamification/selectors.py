"""Reads of EXP data that other modules and the API need."""

from __future__ import annotations

from django.db.models import QuerySet

from gamification.models import StreamExp, UserExpLog


def exp_log(*, user_id: int, limit: int, before: int | None = None) -> list[UserExpLog]:
    """The user's EXP log, newest first; ``before`` is the id of the last row seen."""
    qs: QuerySet[UserExpLog] = UserExpLog.objects.filter(user_id=user_id)
    if before is not None:
        qs = qs.filter(id__lt=before)
    return list(qs.order_by("-id")[:limit])


def stream_exp_earned(*, stream_id: int) -> int:
    """EXP the streamer earned with one stream (``stream_minute``), for stream stats."""
    row = StreamExp.objects.filter(stream_id=stream_id).values_list("exp_awarded", flat=True)
    return int(row.first() or 0)


def stream_minutes_awarded(*, stream_id: int) -> int:
    row = StreamExp.objects.filter(stream_id=stream_id).values_list("minutes_awarded", flat=True)
    return int(row.first() or 0)
