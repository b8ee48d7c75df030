"""SPEC §4: ``actual_end`` is when the broadcast really stopped — the publish-done
callback when the reconnect grace expires, the ingest server's last callback when it
vanished — and neither the grace nor the watchdog's delay earns EXP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gamification import services as gamification
from streams import services
from streams.models import LiveStream
from tests.gamification.helpers import total_exp
from tests.support.factories import make_stream

pytestmark = pytest.mark.django_db

GRACE = 90


@pytest.fixture(autouse=True)
def grace(settings):
    settings.STREAM_RECONNECT_GRACE_SECONDS = GRACE
    settings.INGEST_SECRET = ""


def ingest_live(*, started_minutes_ago: float, now) -> LiveStream:
    """A stream that went live through the ingest ``started_minutes_ago``."""
    start = now - timedelta(minutes=started_minutes_ago)
    return make_stream(
        status="live",
        actual_start=start,
        ingest_client_id="7",
        ingest_seen_at=start,
    )


def test_an_expired_grace_ends_the_stream_at_the_publish_done_time():
    now = timezone.now()
    stream = ingest_live(started_minutes_ago=10, now=now)
    done_at = now - timedelta(minutes=4)
    LiveStream.objects.filter(id=stream.id).update(
        ingest_client_id=None, ingest_seen_at=done_at, ingest_done_at=done_at
    )
    # The watchdog notices two and a half minutes after the grace ran out.
    assert services.end_stale_streams(now=now) == [stream.id]
    ended = LiveStream.objects.get(id=stream.id)
    assert ended.status == "ended"
    assert ended.actual_end == done_at
    assert (ended.actual_end - ended.actual_start) == timedelta(minutes=6)


def test_a_vanished_ingest_server_ends_the_stream_at_its_last_callback():
    now = timezone.now()
    stream = ingest_live(started_minutes_ago=10, now=now)
    last = now - timedelta(minutes=3)
    LiveStream.objects.filter(id=stream.id).update(ingest_seen_at=last)
    assert services.end_stale_streams(now=now) == [stream.id]
    assert LiveStream.objects.get(id=stream.id).actual_end == last


def test_the_owners_end_is_that_moment():
    now = timezone.now()
    stream = ingest_live(started_minutes_ago=10, now=now)
    before = timezone.now()
    services.do_end_stream(stream_id=stream.id, user=stream.streamer)
    ended = LiveStream.objects.get(id=stream.id)
    assert before <= ended.actual_end <= timezone.now()


def test_a_grace_period_that_expires_earns_no_exp():
    now = timezone.now()
    stream = ingest_live(started_minutes_ago=7.5, now=now)
    done_at = now - timedelta(minutes=4.5)  # 3 live minutes, then OBS left
    LiveStream.objects.filter(id=stream.id).update(
        ingest_client_id=None, ingest_seen_at=done_at, ingest_done_at=done_at
    )
    # Ticks during the grace pay the 3 live minutes, not the 4.5 of waiting.
    gamification.award_stream_minutes(now=now - timedelta(minutes=3))
    gamification.award_stream_minutes(now=now)
    assert total_exp(stream.streamer) == 30
    services.end_stale_streams(now=now)
    gamification.settle_stream(stream_id=stream.id, now=now)
    assert total_exp(stream.streamer) == 30


def test_a_publisher_that_resumes_within_the_grace_keeps_earning():
    now = timezone.now()
    stream = ingest_live(started_minutes_ago=6.5, now=now)
    done_at = now - timedelta(minutes=1.2)  # within the 90 s grace
    LiveStream.objects.filter(id=stream.id).update(
        ingest_client_id=None, ingest_seen_at=done_at, ingest_done_at=done_at
    )
    gamification.award_stream_minutes(now=now)
    assert total_exp(stream.streamer) == 50  # paused at the publish-done (5.3 min)
    # OBS comes back: the stream resumes, and the time since it started counts again.
    result = services.do_ingest_publish(stream_key=stream.stream_key, client_id="8")
    assert result.allowed
    gamification.award_stream_minutes(now=timezone.now())
    assert total_exp(stream.streamer) == 60


def test_a_stream_started_by_hand_earns_up_to_now():
    now = timezone.now()
    stream = make_stream(status="live", actual_start=now - timedelta(minutes=5.5))
    gamification.award_stream_minutes(now=now)
    assert total_exp(stream.streamer) == 50
