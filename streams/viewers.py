"""Viewer peaks: Redis (live, ``realtime.presence``) → ``live_streams.max_viewers``.

``max_viewers`` is only ever raised (a conditional ``UPDATE … WHERE max_viewers <
peak``), so these functions are safe to run at any time, any number of times,
concurrently.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from realtime import presence
from realtime.events import invalidate_snapshots_on_commit
from streams.models import LiveStream

# Streams that ended this recently are still swept, in case their settle step missed.
RECENTLY_ENDED = timedelta(hours=1)


def persist_viewer_peak(*, stream_id: int) -> int:
    """Write the Redis peak of one stream into ``max_viewers`` (never lowering it).

    Called by the periodic task and when a stream is settled. Returns the peak read.
    """
    peak = presence.viewer_peak(stream_id)
    if peak > 0:
        raised = (
            LiveStream.objects.annotate(current=Coalesce("max_viewers", 0))
            .filter(id=stream_id, current__lt=peak)
            .update(max_viewers=peak)
        )
        if raised:
            # max_viewers is in the public payload, and no room event carries it.
            invalidate_snapshots_on_commit([stream_id])
    return peak


def persist_viewer_peaks() -> int:
    """Reap dead server processes, then persist the peak of every live (or just
    ended) stream. Returns how many streams were looked at."""
    presence.reap_dead_processes()
    since = timezone.now() - RECENTLY_ENDED
    ids = list(
        LiveStream.objects.filter(
            Q(status=LiveStream.Status.LIVE)
            | Q(status=LiveStream.Status.ENDED, actual_end__gte=since)
        ).values_list("id", flat=True)
    )
    for stream_id in ids:
        persist_viewer_peak(stream_id=stream_id)
    return len(ids)
