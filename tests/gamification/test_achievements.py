"""Streaming achievements unlock once, with progress kept (SPEC §8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from donations.models import StreamDonation
from gamification import services
from gamification.models import Achievement, UserAchievement
from realtime import event_types
from streams.models import LiveStream
from tests.gamification.helpers import end_stream, live_stream, run_concurrently, total_exp
from tests.support.events import capture_events
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db

STREAMING_CODES = {
    "first_stream_ended",
    "minutes_streamed_60",
    "minutes_streamed_600",
    "peak_viewers_10",
    "peak_viewers_100",
    "first_donation_received",
}


def unlocked_codes(user) -> set[str]:
    return set(
        UserAchievement.objects.filter(user=user, completed_at__isnull=False).values_list(
            "achievement__code", flat=True
        )
    )


def progress(user, code: str) -> int:
    return UserAchievement.objects.get(user=user, achievement__code=code).progress


def achievement_events(sent) -> list[tuple[list[str], str]]:
    return [(g, e["code"]) for g, e in sent if e["type"] == "achievement"]


def test_the_six_streaming_achievements_are_seeded_with_stable_codes():
    rows = {a.code: (a.condition_type, a.condition_value) for a in Achievement.objects.all()}
    assert set(rows) >= STREAMING_CODES
    assert rows["minutes_streamed_600"] == ("minutes_streamed", 600)
    assert rows["peak_viewers_100"] == ("peak_viewers", 100)


def test_achievement_event_shape():
    assert event_types.achievement(
        code="peak_viewers_10",
        name="Small Crowd",
        description="Reach a peak of 10 viewers on a stream.",
        rarity="common",
        badge_color="#FF9800",
        progress=10,
        completed_at="2026-11-27T16:00:00+00:00",
    ) == {
        "type": "achievement",
        "code": "peak_viewers_10",
        "name": "Small Crowd",
        "description": "Reach a peak of 10 viewers on a stream.",
        "rarity": "common",
        "badge_color": "#FF9800",
        "progress": 10,
        "completed_at": "2026-11-27T16:00:00+00:00",
    }


def test_exp_event_shape():
    assert event_types.exp(gained=30, total_exp=110, current_level=2) == {
        "type": "exp",
        "gained": 30,
        "total_exp": 110,
        "current_level": 2,
    }


def test_settling_a_first_ended_stream_unlocks_it_once_and_tells_the_dashboard():
    stream = live_stream(12.5)
    end_stream(stream, live_minutes=12.5)
    LiveStream.objects.filter(pk=stream.pk).update(max_viewers=12)

    with capture_events() as sent:
        services.settle_stream(stream_id=stream.pk)
        services.settle_stream(stream_id=stream.pk)

    assert unlocked_codes(stream.streamer) == {"first_stream_ended", "peak_viewers_10"}
    assert sorted(achievement_events(sent)) == [
        ([f"dashboard.{stream.pk}"], "first_stream_ended"),
        ([f"dashboard.{stream.pk}"], "peak_viewers_10"),
    ]
    exp_events = [e for _, e in sent if e["type"] == "exp"]
    assert exp_events == [{"type": "exp", "gained": 120, "total_exp": 120, "current_level": 2}]
    assert progress(stream.streamer, "minutes_streamed_60") == 12
    assert progress(stream.streamer, "peak_viewers_100") == 12


def test_a_peak_of_100_viewers_unlocks_both_peak_achievements():
    stream = make_stream(status=LiveStream.Status.ENDED, max_viewers=150)

    services.settle_stream(stream_id=stream.pk)

    assert {"peak_viewers_10", "peak_viewers_100"} <= unlocked_codes(stream.streamer)
    assert progress(stream.streamer, "peak_viewers_100") == 100


def test_60_minutes_unlock_while_still_live_and_600_count_across_streams():
    user = make_user()
    old = live_stream(540.5, streamer=user)
    end_stream(old, live_minutes=540.5)
    services.settle_stream(stream_id=old.pk)
    assert unlocked_codes(user) == {"first_stream_ended", "minutes_streamed_60"}

    current = live_stream(60.2, streamer=user)
    with capture_events() as sent:
        services.award_stream_minutes()

    assert "minutes_streamed_600" in unlocked_codes(user)
    assert achievement_events(sent) == [([f"dashboard.{current.pk}"], "minutes_streamed_600")]
    assert total_exp(user) == 6000


def test_minutes_progress_is_kept_before_the_goal():
    stream = live_stream(30.5)

    services.award_stream_minutes()

    assert progress(stream.streamer, "minutes_streamed_60") == 30
    assert "minutes_streamed_60" not in unlocked_codes(stream.streamer)


def test_a_stream_whose_settle_task_was_lost_is_settled_by_the_minute_tick():
    stream = live_stream(3.5)
    end_stream(stream, live_minutes=3.5)

    result = services.award_stream_minutes()

    assert result.closed_stream_ids == [stream.pk]
    assert total_exp(stream.streamer) == 30
    assert "first_stream_ended" in unlocked_codes(stream.streamer)


def test_settling_a_missing_stream_does_nothing():
    assert services.settle_stream(stream_id=987654321) is None


def test_first_donation_received_needs_a_completed_donation_and_unlocks_once():
    stream = make_stream(status=LiveStream.Status.LIVE)
    donation = StreamDonation.objects.create(stream=stream, amount=Decimal("500.00"))

    assert services.check_donation_achievements(streamer_id=stream.streamer_id) == []
    StreamDonation.objects.filter(pk=donation.pk).update(payment_status="completed")
    StreamDonation.objects.create(
        stream=stream, amount=Decimal("300.00"), payment_status="completed"
    )

    with capture_events() as sent:
        first = services.check_donation_achievements(streamer_id=stream.streamer_id)
        again = services.check_donation_achievements(streamer_id=stream.streamer_id)

    assert [a.code for a in first] == ["first_donation_received"]
    assert again == []
    assert achievement_events(sent) == [([f"dashboard.{stream.pk}"], "first_donation_received")]


def test_a_donation_to_someone_else_does_not_count():
    streamer = make_user()
    other_stream = make_stream(status=LiveStream.Status.LIVE)
    StreamDonation.objects.create(
        stream=other_stream, amount=Decimal("500.00"), payment_status="completed"
    )

    assert services.check_donation_achievements(streamer_id=streamer.pk) == []


def test_an_inactive_achievement_is_not_unlocked():
    Achievement.objects.filter(code="first_stream_ended").update(is_active=False)
    stream = make_stream(status=LiveStream.Status.ENDED)

    services.settle_stream(stream_id=stream.pk)

    assert "first_stream_ended" not in unlocked_codes(stream.streamer)


@pytest.mark.django_db(transaction=True)
def test_two_racing_settlements_unlock_each_achievement_once():
    stream = live_stream(61.5)
    end_stream(stream, live_minutes=61.5)
    LiveStream.objects.filter(pk=stream.pk).update(max_viewers=101)

    with capture_events() as sent:
        run_concurrently(lambda: services.settle_stream(stream_id=stream.pk), 2)

    expected = {"first_stream_ended", "minutes_streamed_60", "peak_viewers_10", "peak_viewers_100"}
    assert unlocked_codes(stream.streamer) == expected
    assert UserAchievement.objects.filter(user=stream.streamer).count() == 6  # one per code
    assert sorted(code for _, code in achievement_events(sent)) == sorted(expected)
    assert total_exp(stream.streamer) == 610


@pytest.mark.django_db(transaction=True)
def test_racing_unlocks_are_exclusive_by_data_even_without_the_advisory_lock():
    stream = make_stream(status=LiveStream.Status.ENDED, max_viewers=10)
    from django.db import transaction
    from django.utils import timezone

    def unlock():
        with transaction.atomic():
            return services._update_achievements(
                user_ids=[stream.streamer_id],
                conditions=services.STREAMING_CONDITIONS,
                now=timezone.now(),
            )

    results = run_concurrently(unlock, 4)

    codes = sorted(a.code for r in results for a in r)
    assert codes == ["first_stream_ended", "peak_viewers_10"]
