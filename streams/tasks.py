"""Celery tasks of the streams app (names are interfaces: SPEC §8). Ids in, a service
call inside."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from streams import archives, services
from streams.archives import ArchiveBusy, ArchiveFailed


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


# Retry policy of the archive: a run that found another one holding the stream's lock
# (ArchiveBusy), or whose ffmpeg failed or timed out (ArchiveFailed), or that lost the
# database, is retried with exponential backoff (30 s, 60 s, ... up to 10 min, jittered)
# at most ARCHIVE_MAX_RETRIES times; then the failure is logged and the task ends. The
# recordings stay, so the next on_record_done or settle of the stream, or running the
# task again by hand, rebuilds it. Missing or unreadable recordings never fail the
# task: they are skipped (logged) and the rest is archived.
ARCHIVE_MAX_RETRIES = 5


@shared_task(
    name="streams.tasks.archive_recording",
    acks_late=True,
    autoretry_for=(ArchiveBusy, ArchiveFailed, OperationalError, InterfaceError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=ARCHIVE_MAX_RETRIES,
    soft_time_limit=settings.ARCHIVE_FFMPEG_TIMEOUT_SECONDS + 120,
    time_limit=settings.ARCHIVE_FFMPEG_TIMEOUT_SECONDS + 180,
)
def archive_recording(stream_id: int) -> dict[str, object]:
    """Join an ended stream's recordings into its MP4 archive and publish
    ``archive_url`` (``streams.archives.archive_stream``). Idempotent, safe to retry and
    to run concurrently; a stream without recordings, or not ended, is a no-op."""
    return archives.archive_stream(stream_id=stream_id)


@shared_task(
    name="streams.tasks.capture_thumbnails",
    acks_late=True,
    soft_time_limit=55,
    time_limit=60,
)
def capture_thumbnails() -> dict[str, object]:
    """Beat, every 60 s: a fresh ``thumbnail_url`` for each live stream with HLS output.
    Safe to run at any time, any number of times, concurrently."""
    return archives.capture_thumbnails()
