"""stream_minute EXP is exactly floor(live minutes) x base_exp per stream (SPEC §8)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from gamification import services
from gamification.models import DailyActionCount, StreamExp, UserExpLog
from streams.models import LiveStream
from tests.gamification.helpers import (
    end_stream,
    live_stream,
    run_concurrently,
    set_stream_minute,
    stream_minute_rows,
    total_exp,
)
from tests.support.events import capture_events
from tests.support.factories import make_stream, make_user

pytestmark = pytest.mark.django_db


def test_ten_and_a_half_live_minutes_pay_exactly_100_exp_in_one_log_row():
    stream = live_stream(10.5)

    services.award_stream_minutes()

    assert total_exp(stream.streamer) == 100
    [row] = stream_minute_rows(stream)
    assert (row.user_id, row.exp_gained, row.reference_type) == (
        stream.streamer_id,
        100,
        "live_stream",
    )
    assert stream.streamer.current_level == 2


def test_repeated_ticks_pay_nothing_more_for_the_same_minutes():
    stream = live_stream(10.5)
    now = timezone.now()

    for _ in range(5):
        services.award_stream_minutes(now=now)

    assert total_exp(stream.streamer) == 100
    assert len(stream_minute_rows(stream)) == 1


def test_each_new_full_minute_is_paid_on_a_later_tick():
    now = timezone.now()
    stream = live_stream(3.5, now=now)

    services.award_stream_minutes(now=now)
    services.award_stream_minutes(now=now + timedelta(seconds=20))  # 3 min 50 s: nothing new
    services.award_stream_minutes(now=now + timedelta(seconds=40))  # 4 min 10 s

    assert total_exp(stream.streamer) == 40
    assert [r.exp_gained for r in stream_minute_rows(stream)] == [30, 10]


def test_a_30_minute_worker_outage_is_caught_up_on_the_next_tick_in_one_row():
    now = timezone.now()
    stream = live_stream(5.2, now=now)
    services.award_stream_minutes(now=now)

    services.award_stream_minutes(now=now + timedelta(minutes=30))

    assert total_exp(stream.streamer) == 350  # floor(35.2) x 10
    assert [r.exp_gained for r in stream_minute_rows(stream)] == [50, 300]


def test_a_stream_ending_between_ticks_is_paid_up_to_its_end_and_no_further():
    now = timezone.now()
    stream = live_stream(5.5, now=now)
    services.award_stream_minutes(now=now)
    end_stream(stream, live_minutes=7.9)

    result = services.award_stream_minutes(now=now + timedelta(minutes=10))
    services.award_stream_minutes(now=now + timedelta(minutes=20))
    services.settle_stream(stream_id=stream.pk, now=now + timedelta(minutes=21))

    assert total_exp(stream.streamer) == 70
    assert result.closed_stream_ids == [stream.pk]
    assert StreamExp.objects.get(stream=stream).settled_at is not None


def test_a_stream_that_started_and_ended_between_ticks_is_paid_by_its_settlement():
    stream = live_stream(4.5)
    end_stream(stream, live_minutes=3.99)

    services.settle_stream(stream_id=stream.pk)
    services.settle_stream(stream_id=stream.pk)
    services.award_stream_minutes()

    assert total_exp(stream.streamer) == 30
    assert len(stream_minute_rows(stream)) == 1


def test_streams_that_are_not_live_earn_nothing():
    user = make_user()
    make_stream(streamer=user, status=LiveStream.Status.SCHEDULED)
    make_stream(streamer=user, status=LiveStream.Status.CANCELLED)
    make_stream(streamer=user, status=LiveStream.Status.LIVE)  # no actual_start

    services.award_stream_minutes()

    assert total_exp(user) == 0
    assert not UserExpLog.objects.filter(user=user).exists()


def test_a_null_total_exp_in_the_seed_is_treated_as_zero():
    stream = live_stream(2.1)
    type(stream.streamer).objects.filter(pk=stream.streamer_id).update(
        total_exp=None, current_level=None
    )

    services.award_stream_minutes()

    streamer = stream.streamer
    streamer.refresh_from_db()
    assert (streamer.total_exp, streamer.current_level) == (20, 1)


def test_inactive_stream_minute_action_pays_nothing_and_those_minutes_stay_unpaid():
    now = timezone.now()
    stream = live_stream(6.5, now=now)
    set_stream_minute(is_active=False)

    services.award_stream_minutes(now=now)
    assert total_exp(stream.streamer) == 0
    assert stream_minute_rows(stream) == []

    set_stream_minute(is_active=True)
    services.award_stream_minutes(now=now + timedelta(minutes=2))

    assert total_exp(stream.streamer) == 20  # only the 2 minutes after re-activation
    assert StreamExp.objects.get(stream=stream).minutes_awarded == 8


def test_daily_cap_limits_credited_minutes_per_streamer_per_utc_day_across_streams():
    now = timezone.now().replace(hour=12, minute=0)
    set_stream_minute(max_daily_count=5)
    user = make_user()
    first = live_stream(4.5, streamer=user, now=now)
    second = live_stream(4.5, streamer=user, now=now)

    services.award_stream_minutes(now=now)
    services.award_stream_minutes(now=now + timedelta(minutes=3))
    assert total_exp(user) == 50
    assert [r.exp_gained for r in stream_minute_rows(first)] == [40]
    assert [r.exp_gained for r in stream_minute_rows(second)] == [10]

    services.award_stream_minutes(now=now + timedelta(days=1))
    # A new UTC day: the cap is fresh; each stream is paid up to the cap again.
    assert total_exp(user) == 100
    assert DailyActionCount.objects.get(user=user, day=(now + timedelta(days=1)).date()).count == 5


def test_a_cap_of_zero_means_unlimited():
    set_stream_minute(max_daily_count=0)
    stream = live_stream(300.2)

    services.award_stream_minutes()

    assert total_exp(stream.streamer) == 3000


def test_base_exp_comes_from_exp_actions():
    set_stream_minute(base_exp=7)
    stream = live_stream(3.1)

    services.award_stream_minutes()

    assert total_exp(stream.streamer) == 21


@pytest.mark.parametrize(
    ("total", "level"),
    [(0, 1), (99, 1), (100, 2), (299, 2), (300, 3), (599, 3), (600, 4), (4950, 10)],
)
def test_level_curve_boundaries(total, level):
    assert services.level_for_exp(total) == level
    assert services.exp_for_level(level) <= total < services.exp_for_level(level + 1)


@pytest.mark.parametrize(
    ("start_exp", "minutes", "level"),
    [(0, 9.9, 1), (90, 1.0, 2), (280, 1.5, 2), (290, 1.5, 3), (None, 30.5, 3)],
)
def test_current_level_is_recomputed_in_the_database_with_every_award(start_exp, minutes, level):
    stream = live_stream(minutes)
    type(stream.streamer).objects.filter(pk=stream.streamer_id).update(total_exp=start_exp)

    services.award_stream_minutes()

    stream.streamer.refresh_from_db()
    assert stream.streamer.current_level == level
    assert level == services.level_for_exp(stream.streamer.total_exp)


def test_each_paid_stream_gets_one_exp_event_on_its_dashboard():
    stream = live_stream(3.2)
    User = type(stream.streamer)
    User.objects.filter(pk=stream.streamer_id).update(total_exp=80)

    with capture_events() as sent:
        services.award_stream_minutes()
        services.award_stream_minutes()

    assert sent == [
        (
            [f"dashboard.{stream.pk}"],
            {"type": "exp", "gained": 30, "total_exp": 110, "current_level": 2},
        )
    ]


def test_a_rolled_back_award_pays_and_announces_nothing():
    stream = live_stream(3.2)

    with capture_events() as sent, pytest.raises(RuntimeError), transaction.atomic():
        services.award_stream_minutes()
        raise RuntimeError("crash after the award, before commit")

    assert sent == []
    assert total_exp(stream.streamer) == 0
    services.award_stream_minutes()
    assert total_exp(stream.streamer) == 30


def test_the_minute_tick_issues_a_fixed_number_of_statements(django_assert_max_num_queries):
    for _ in range(30):
        live_stream(2.5)
    # savepoint + lock + ensure + award + close + 2 x achievements (+ release)
    with django_assert_max_num_queries(9):
        result = services.award_stream_minutes()
    assert len(result.awards) == 30


@pytest.mark.django_db(transaction=True)
def test_four_concurrent_ticks_pay_each_minute_once():
    streams = [live_stream(10.5) for _ in range(20)]

    results = run_concurrently(services.award_stream_minutes, 4)

    assert sum(not r.skipped for r in results) >= 1
    for stream in streams:
        assert total_exp(stream.streamer) == 100
        assert len(stream_minute_rows(stream)) == 1


@pytest.mark.django_db(transaction=True)
def test_the_data_alone_keeps_concurrent_awards_exact_without_the_advisory_lock():
    """Even code that skipped the serialising lock cannot pay a minute twice: the
    progress row is locked and advanced conditionally in the paying statement."""
    streams = [live_stream(10.5) for _ in range(20)]
    now = timezone.now()

    def unlocked_award():
        with transaction.atomic():
            return services._award_minutes(now=now, stream_ids=None)

    run_concurrently(unlocked_award, 4)

    for stream in streams:
        assert total_exp(stream.streamer) == 100
        assert len(stream_minute_rows(stream)) == 1


def test_a_late_settlement_of_a_stream_that_ended_days_ago_still_pays_its_minutes():
    stream = live_stream(2 * 24 * 60)
    end_stream(stream, live_minutes=5.5)

    services.award_stream_minutes()  # the tick leaves streams ended over a day ago alone
    assert total_exp(stream.streamer) == 0
    services.settle_stream(stream_id=stream.pk)

    assert total_exp(stream.streamer) == 50


def test_the_sql_level_formula_agrees_with_the_python_one_around_every_boundary():
    from django.db import connection

    boundaries = [services.exp_for_level(level) for level in range(1, 400)]
    totals = sorted({t + d for t in boundaries for d in (-1, 0, 1) if t + d >= 0})
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t, {services._level_sql('t')} FROM unnest(%s::bigint[]) AS t", [totals]
        )
        rows = cursor.fetchall()

    assert [(t, services.level_for_exp(t)) for t in totals] == sorted(rows)
