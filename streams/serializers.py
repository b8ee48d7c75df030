"""Wire shape of a stream (SPEC §5 "Public stream fields"). Never includes the key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist

from accounts.serializers import public_user
from donations.selectors import public_goal
from realtime import presence
from streams.models import LiveStream


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _goal_of(stream: LiveStream):
    """The stream's goal row (``donations.StreamGoal``, reverse one-to-one), or None."""
    try:
        return stream.goal
    except ObjectDoesNotExist:
        return None


def public_stream(stream: LiveStream, *, viewer_count: int | None = None) -> dict[str, Any]:
    """``viewer_count`` is the live count across all server processes (read from
    presence unless the caller already has it, e.g. for a whole page of streams)."""
    if viewer_count is None:
        viewer_count = presence.viewer_count(stream.id)
    return {
        "id": stream.id,
        "title": stream.title,
        "description": stream.description or "",
        "status": stream.status,
        # Live, but OBS dropped and the reconnect grace is running ("reconnecting…").
        "reconnecting": (
            stream.status == LiveStream.Status.LIVE
            and stream.ingest_client_id is None
            and stream.ingest_done_at is not None
        ),
        "streamer": public_user(stream.streamer),
        "scheduled_start": _iso(stream.scheduled_start),
        "actual_start": _iso(stream.actual_start),
        "actual_end": _iso(stream.actual_end),
        "viewer_count": viewer_count,
        "max_viewers": stream.max_viewers or 0,
        "total_donations": f"{stream.total_donations or 0:.2f}",
        "currency": settings.DONATION_CURRENCY,
        "created_at": _iso(stream.created_at),
        # Paths under MEDIA_URL, or None: the MP4 of an ended stream (streams.archives),
        # the latest frame of a live one (with a cache-busting ?v=).
        "archive_url": (stream.archive_url or None) if stream.is_archived else None,
        "thumbnail_url": stream.thumbnail_url or None,
        # {title, amount, raised, version} or None (select_related("goal") avoids a query).
        "goal": public_goal(_goal_of(stream)),
    }


def owner_stream(stream: LiveStream, *, viewer_count: int | None = None) -> dict[str, Any]:
    """The owner's view: the public stream plus the ingest status. Still no key."""
    reconnect_deadline = None
    if stream.status == LiveStream.Status.LIVE and stream.ingest_done_at is not None:
        from datetime import timedelta

        reconnect_deadline = stream.ingest_done_at + timedelta(
            seconds=settings.STREAM_RECONNECT_GRACE_SECONDS
        )
    return {
        **public_stream(stream, viewer_count=viewer_count),
        "ingest": {
            "connected": stream.ingest_client_id is not None,
            "last_seen_at": _iso(stream.ingest_seen_at),
            "reconnect_deadline": _iso(reconnect_deadline),
        },
        "ingest_url": settings.INGEST_RTMP_URL,
    }


def stream_key_payload(stream: LiveStream) -> dict[str, Any]:
    """``GET /api/streams/{id}/key``: the only payload that carries the key."""
    return {"stream_key": stream.stream_key, "ingest_url": settings.INGEST_RTMP_URL}
