"""Celery tasks of the streams app (names are interfaces: SPEC §8). Ids in, a service
call inside."""

from __future__ import annotations

from celery import shared_task

from streams import services


@shared_task(
    name="streams.tasks.end_stale_streams",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
)
def end_stale_streams() -> list[int]:
    """Beat, every 15 s: end streams whose reconnect grace ran out or whose ingest
    went silent. Safe to run at any time, any number of times, concurrently."""
    return services.end_stale_streams()


@shared_task(
    name="streams.tasks.settle_stream",
    acks_late=True,
    soft_time_limit=50,
    time_limit=60,
)
def settle_stream(stream_id: int) -> dict[str, object] | None:
    """Enqueued on commit when a stream ends; idempotent, a missing stream is a no-op."""
    return services.settle_stream(stream_id=stream_id)


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
