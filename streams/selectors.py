"""Reads of streams that other modules need."""

from __future__ import annotations

from streams.models import LiveStream


def get_stream(stream_id: int) -> LiveStream | None:
    return LiveStream.objects.select_related("streamer").filter(id=stream_id).first()
