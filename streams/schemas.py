"""OpenAPI shapes of the stream payloads (``streams.serializers``, ``stream_stats``),
for the schema only: the endpoints build their JSON with those functions."""

from __future__ import annotations

from rest_framework import serializers

from accounts.schemas import PublicUser
from donations.schemas import PublicGoal
from streams.models import LiveStream

MONEY = {"max_digits": 10, "decimal_places": 2, "coerce_to_string": True}


class PublicStream(serializers.Serializer):
    """``streams.serializers.public_stream`` (SPEC §5 "Public stream fields")."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField(help_text="Empty when none was given.")
    status = serializers.ChoiceField(choices=LiveStream.Status.choices)
    reconnecting = serializers.BooleanField(
        help_text="Live, but the broadcaster dropped and the reconnect grace is running."
    )
    streamer = PublicUser()
    scheduled_start = serializers.DateTimeField(allow_null=True)
    actual_start = serializers.DateTimeField(allow_null=True)
    actual_end = serializers.DateTimeField(allow_null=True)
    viewer_count = serializers.IntegerField(help_text="Distinct viewers connected now.")
    max_viewers = serializers.IntegerField(help_text="Peak viewers while live.")
    total_donations = serializers.DecimalField(
        **MONEY, help_text='Completed donations net of refunds, e.g. "1500.00".'
    )
    currency = serializers.CharField(help_text="Lower-case ISO code, e.g. `jpy`.")
    created_at = serializers.DateTimeField()
    archive_url = serializers.CharField(
        allow_null=True,
        help_text="Ended and archived: the MP4 of the broadcast, a path under MEDIA_URL"
        " (e.g. `/media/archives/12-3f9c2a7d41b0e8c5.mp4`; Range requests work); else null.",
    )
    thumbnail_url = serializers.CharField(
        allow_null=True,
        help_text="A recent frame of the broadcast (JPEG, refreshed every minute while"
        " live), a path under MEDIA_URL with `?v=<unix time>`; null until the first one.",
    )
    goal = PublicGoal(allow_null=True, help_text="The running donation goal, or null.")


class IngestStatus(serializers.Serializer):
    connected = serializers.BooleanField(help_text="An encoder is publishing now.")
    last_seen_at = serializers.DateTimeField(allow_null=True)
    reconnect_deadline = serializers.DateTimeField(
        allow_null=True,
        help_text="Live with the encoder gone: the stream ends unless it is back by then.",
    )


class OwnerStream(PublicStream):
    """``streams.serializers.owner_stream``: the public stream plus the ingest status
    (still no key)."""

    ingest = IngestStatus()
    ingest_url = serializers.CharField(help_text="The RTMP server URL for OBS.")


class StreamDetail(PublicStream):
    """``GET /api/streams/{id}``: the public stream; its owner gets ``owner_stream``,
    with ``ingest`` and ``ingest_url`` as well."""

    ingest = IngestStatus(required=False)
    ingest_url = serializers.CharField(required=False, help_text="The owner only.")


class StreamPage(serializers.Serializer):
    """A page of ``GET /api/streams`` (``?page=``, ``?page_size=`` ≤ 100)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PublicStream(many=True)


class StreamKey(serializers.Serializer):
    """``streams.serializers.stream_key_payload`` (sent with ``Cache-Control: no-store``)."""

    stream_key = serializers.CharField()
    ingest_url = serializers.CharField()


class StreamStats(serializers.Serializer):
    """``streams.selectors.stream_stats``."""

    stream_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=LiveStream.Status.choices)
    duration_seconds = serializers.IntegerField()
    peak_viewers = serializers.IntegerField()
    donation_total = serializers.DecimalField(**MONEY, help_text="Net of refunds.")
    donation_count = serializers.IntegerField()
    currency = serializers.CharField()
    chat_message_count = serializers.IntegerField()
    exp_earned = serializers.IntegerField()
