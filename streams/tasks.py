"""Celery tasks of the streams app (names are interfaces: SPEC §8)."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="streams.tasks.persist_viewer_peaks",
    acks_late=True,
    soft_time_limit=25,
    time_limit=30,
)
def persist_viewer_peaks() -> int:
    """Redis viewer peaks → ``live_streams.max_viewers`` (never lowered)."""
    from streams.viewers import persist_viewer_peaks as persist

    return persist()
