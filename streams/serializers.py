"""Wire shape of a stream (SPEC §5 "Public stream fields"). Never includes the key."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from accounts.serializers import public_user
from streams.models import LiveStream


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def public_stream(stream: LiveStream, *, viewer_count: int = 0) -> dict[str, Any]:
    return {
        "id": stream.id,
        "title": stream.title,
        "description": stream.description or "",
        "status": stream.status,
        "streamer": public_user(stream.streamer),
        "scheduled_start": _iso(stream.scheduled_start),
        "actual_start": _iso(stream.actual_start),
        "actual_end": _iso(stream.actual_end),
        "viewer_count": viewer_count,
        "max_viewers": stream.max_viewers or 0,
        "total_donations": f"{stream.total_donations or 0:.2f}",
        "currency": settings.DONATION_CURRENCY,
        "created_at": _iso(stream.created_at),
    }
