"""Channel-layer group names, in one place."""

from __future__ import annotations


def stream_room(stream_id: int) -> str:
    """Viewers of one stream (``/ws/streams/{id}/``)."""
    return f"stream.{stream_id}"


def stream_dashboard(stream_id: int) -> str:
    """The owner's dashboard sockets for one stream."""
    return f"dashboard.{stream_id}"


def streamer_overlays(user_id: int) -> str:
    """Every OBS overlay socket of one streamer."""
    return f"overlays.{user_id}"
