"""``live_streams`` (seed §2.7.1) and the project's ``stream_recordings``."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class LiveStream(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"

    streamer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="live_streams"
    )
    title = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    stream_key = models.CharField(max_length=255, unique=True)
    status = models.CharField(
        max_length=20,
        null=True,
        choices=Status.choices,
        default=Status.SCHEDULED,
        db_default=Status.SCHEDULED,
    )
    scheduled_start = models.DateTimeField(null=True, blank=True)
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)
    max_viewers = models.IntegerField(null=True, default=0, db_default=0)
    total_donations = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, default=0, db_default=0
    )
    is_archived = models.BooleanField(null=True, default=False, db_default=False)
    archive_url = models.CharField(max_length=500, null=True, blank=True)
    thumbnail_url = models.CharField(max_length=500, null=True, blank=True)
    settings = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(null=True, auto_now=True, db_default=Now())

    # The project's own columns (nullable, so the rest of the platform can ignore them):
    # which ingest session currently publishes this stream, and when the ingest server
    # last spoke about it. ``ingest_seen_at`` stays NULL for a stream the owner started
    # by hand that never received a publish.
    ingest_client_id = models.CharField(max_length=64, null=True, blank=True)
    ingest_seen_at = models.DateTimeField(null=True, blank=True)
    # When the publisher went away (publish_done); the reconnect grace starts here.
    ingest_done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "live_streams"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["scheduled", "live", "ended", "cancelled"])
                | models.Q(status__isnull=True),
                name="live_streams_status_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"


class StreamRecording(models.Model):
    """A file the ingest server recorded (nginx-rtmp ``record``), reported by
    ``POST /ingest/on_record_done``: one per publish session, so a stream that
    reconnected has several. ``streams.tasks.archive_recording`` joins them, in
    ``(created_at, id)`` order, into the stream's archive.

    ``path`` is relative to ``settings.INGEST_RECORD_DIR`` (private: without the relay
    rename, nginx-rtmp names the file after the stream key), unique, so a repeated
    callback stores nothing twice. ``size`` is the file's size when it was reported.
    """

    stream = models.ForeignKey(LiveStream, on_delete=models.CASCADE, related_name="recordings")
    path = models.CharField(max_length=1000, unique=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "stream_recordings"
        indexes = [
            models.Index(fields=["stream", "created_at", "id"], name="stream_recordings_order"),
        ]

    def __str__(self) -> str:
        return f"recording {self.id} of stream {self.stream_id}"
